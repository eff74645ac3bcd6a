"""seed 004's CSV files, with bad rows of every kind, for the tests of ``ledger import
csv`` (tests/integration) and ``POST /imports/csv`` (tests/e2e)."""

DEVELOPERS = """name,title,experience_years,current_workload,availability,skills,capacity
Aisha Khan,Senior Engineer,7,2,0.8,"fibre, ont",5
Bob Stone,Engineer,2,0,90%,hvac,3.4
Zoë O'Brien,Lead Engineer,12,1,1,"fibre;copper",8
,Engineer,1,0,1,x,1
Carl Null,Engineer,1,0,2.5,x,1
"""

TICKETS = """id,title,description,story_points,required_skill,priority,due_date,status,assigned_to
1,Router down,No sync,3,fibre,High,2024-05-01,pending,
2,ONT flapping,,2,ont,urgent,2024-05-02,assigned,Aisha Khan
3,Copper fault,,5,copper,low,,completed,zoe.o.brien
4,HVAC noise,,1,hvac,medium,,rejected,bob stone
5,No title row,,1,,medium,,pending,
6,,missing title,1,,medium,,pending,
7,Unknown dev,,1,,medium,,assigned,Nobody Here
8,Unknown status,,1,,medium,,paused,
"""
