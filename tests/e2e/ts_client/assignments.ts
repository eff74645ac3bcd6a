// NEW FILE: Assignment API client
import { apiClient } from './client';

export interface EngineerAssignment {
  id: string;
  ticket_id: string;
  engineer_id: string;
  equipment_id: string;
  assignment_sequence: number;
  assignment_tier: number;
  assignment_tier_name: string;
  assignment_reason: string;
  status: 'assigned' | 'accepted' | 'in_progress' | 'completed' | 'rejected' | 'failed';
  assigned_at: string;
  accepted_at?: string;
  completed_at?: string;
  time_spent_hours?: number;
  customer_rating?: number;
}

export const assignmentsApi = {
  // Get current assignment for a ticket
  getCurrentAssignment: async (ticketId: string): Promise<EngineerAssignment> => {
    const { data } = await apiClient.get(`/tickets/${ticketId}/current-assignment`);
    return data;
  },

  // Get full assignment history
  getAssignmentHistory: async (ticketId: string): Promise<EngineerAssignment[]> => {
    const { data } = await apiClient.get(`/tickets/${ticketId}/assignments`);
    return data;
  },

  // Assign ticket to engineer
  assignTicket: async (request: {
    ticket_id: string;
    engineer_id: string;
    equipment_id: string;
    tier: number;
    tier_name: string;
    reason: string;
  }): Promise<EngineerAssignment> => {
    const { data } = await apiClient.post('/assignments', request);
    return data;
  },

  // Escalate ticket
  escalateTicket: async (request: {
    ticket_id: string;
    reason: string;
    next_engineer_id: string;
    next_tier_name: string;
  }): Promise<EngineerAssignment> => {
    const { data } = await apiClient.post('/assignments/escalate', request);
    return data;
  },

  // Accept assignment
  acceptAssignment: async (assignmentId: string): Promise<void> => {
    await apiClient.post(`/assignments/${assignmentId}/accept`);
  },

  // Complete assignment
  completeAssignment: async (
    assignmentId: string,
    data: {
      completion_status: 'success' | 'failed' | 'escalated';
      time_spent_hours: number;
      diagnosis?: string;
      actions_taken?: string;
    }
  ): Promise<void> => {
    await apiClient.post(`/assignments/${assignmentId}/complete`, data);
  },
};
