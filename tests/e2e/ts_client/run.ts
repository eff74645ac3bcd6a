// Drives every method of the seed 002 `assignmentsApi` through the L1 -> L2 -> L3
// escalation flow against a live server and prints a JSON summary on stdout.
//
//   LEDGER_API_URL=http://127.0.0.1:8000 TICKET_ID=<uuid> \
//   ENGINEER_L1=<id> ENGINEER_L2=<id> ENGINEER_L3=<id> node dist/run.js
//
// Exit status 0 when the flow ran; 1 (with the error on stderr) otherwise.

import { assignmentsApi, EngineerAssignment } from './assignments';
import { ApiError } from './client';

declare const process: {
  env: Record<string, string | undefined>;
  exitCode?: number;
  stdout: { write(s: string): boolean };
  stderr: { write(s: string): boolean };
};

function required(name: string): string {
  const value = process.env[name];
  if (!value) {
    throw new Error(`${name} is not set`);
  }
  return value;
}

function brief(a: EngineerAssignment) {
  return {
    id: a.id,
    engineer_id: a.engineer_id,
    assignment_sequence: a.assignment_sequence,
    assignment_tier: a.assignment_tier,
    assignment_tier_name: a.assignment_tier_name,
    status: a.status,
  };
}

async function statusOf(call: () => Promise<unknown>): Promise<number | 'ok'> {
  try {
    await call();
    return 'ok';
  } catch (e) {
    if (e instanceof ApiError) {
      return e.status;
    }
    throw e;
  }
}

async function main(): Promise<void> {
  const ticketId = required('TICKET_ID');
  const l1 = required('ENGINEER_L1');
  const l2 = required('ENGINEER_L2');
  const l3 = required('ENGINEER_L3');

  const noneBefore = await statusOf(() => assignmentsApi.getCurrentAssignment(ticketId));

  const first = await assignmentsApi.assignTicket({
    ticket_id: ticketId,
    engineer_id: l1,
    equipment_id: 'EQ-MRI-0042',
    tier: 1,
    tier_name: 'L1 - Field',
    reason: 'Initial',
  });
  await assignmentsApi.acceptAssignment(first.id);
  const afterAccept = await assignmentsApi.getCurrentAssignment(ticketId);

  const second = await assignmentsApi.escalateTicket({
    ticket_id: ticketId,
    reason: 'Needs dealer diagnostics',
    next_engineer_id: l2,
    next_tier_name: 'L2 - Dealer',
  });
  const third = await assignmentsApi.escalateTicket({
    ticket_id: ticketId,
    reason: 'Needs OEM specialist',
    next_engineer_id: l3,
    next_tier_name: 'L3 - OEM',
  });

  const current = await assignmentsApi.getCurrentAssignment(ticketId);
  const historyBefore = await assignmentsApi.getAssignmentHistory(ticketId);

  // Only an accepted (or started) assignment can be completed.
  await assignmentsApi.acceptAssignment(third.id);
  const completeResult = await assignmentsApi.completeAssignment(third.id, {
    completion_status: 'success',
    time_spent_hours: 2.5,
    diagnosis: 'Gradient coil fault',
    actions_taken: 'Replaced gradient amplifier',
  });

  const historyAfter = await assignmentsApi.getAssignmentHistory(ticketId);
  const noneAfter = await statusOf(() => assignmentsApi.getCurrentAssignment(ticketId));
  const conflict = await statusOf(() => assignmentsApi.acceptAssignment(third.id));

  const summary = {
    ticket_id: ticketId,
    current_before_assign: noneBefore,
    assigned: { ...brief(first), equipment_id: first.equipment_id, assignment_reason: first.assignment_reason },
    current_after_accept: afterAccept,
    escalated_to_l2: brief(second),
    escalated_to_l3: brief(third),
    current_before_complete: current,
    history_before_complete: historyBefore.map(brief),
    complete_result: completeResult === undefined ? null : completeResult,
    history_after_complete: historyAfter.map((a) => ({
      ...brief(a),
      completed_at: a.completed_at ?? null,
      time_spent_hours: a.time_spent_hours ?? null,
      completion_status: (a as unknown as Record<string, unknown>).completion_status ?? null,
      escalation_reason: (a as unknown as Record<string, unknown>).escalation_reason ?? null,
    })),
    current_after_complete: noneAfter,
    accept_completed_assignment: conflict,
  };
  process.stdout.write(JSON.stringify(summary) + '\n');
}

main().catch((e: unknown) => {
  process.stderr.write(`run.ts failed: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exitCode = 1;
});
