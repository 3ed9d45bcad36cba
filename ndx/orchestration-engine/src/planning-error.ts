import { NdxError } from '@ndx/service-kit';

export type PlanningErrorCode =
  | 'OPERATION_NOT_FOUND'
  | 'OPERATION_NOT_SUPPORTED'
  | 'BAD_USER_INPUT'
  | 'UNKNOWN_FIELD'
  | 'UNKNOWN_FRAGMENT'
  | 'FIELD_NOT_ROUTABLE';

/** The operation cannot be planned; `code` says why (all map to HTTP 400 / a GraphQL request error). */
export class PlanningError extends NdxError {
  constructor(code: PlanningErrorCode, message: string, details?: Record<string, unknown>) {
    super(code, message, 400, details);
  }
}
