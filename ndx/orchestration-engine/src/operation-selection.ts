/** Which operation of a document a request runs, and its variable values (graphql-js's own rules). */
import {
  getOperationAST,
  getVariableValues,
  Kind,
  OperationTypeNode,
  type DocumentNode,
  type GraphQLSchema,
  type OperationDefinitionNode,
} from 'graphql';
import { PlanningError } from './planning-error.ts';

/** The query named `operationName`, or the document's only operation; anything else is a PlanningError. */
export function selectOperation(document: DocumentNode, operationName?: string): OperationDefinitionNode {
  const operation = getOperationAST(document, operationName || undefined);
  if (!operation) {
    const count = document.definitions.filter((d) => d.kind === Kind.OPERATION_DEFINITION).length;
    throw new PlanningError(
      'OPERATION_NOT_FOUND',
      operationName
        ? `Unknown operation named "${operationName}"`
        : count
          ? 'Must provide operation name if query contains multiple operations'
          : 'No operation',
    );
  }
  if (operation.operation !== OperationTypeNode.QUERY) {
    throw new PlanningError(
      'OPERATION_NOT_SUPPORTED',
      `Only queries are supported, not ${operation.operation}`,
    );
  }
  return operation;
}

/** The operation's variable values, coerced against their declared types (defaults applied). */
export function coerceVariables(
  schema: GraphQLSchema,
  operation: OperationDefinitionNode,
  inputs: Record<string, unknown>,
): Record<string, unknown> {
  const result = getVariableValues(schema, operation.variableDefinitions ?? [], inputs, { maxErrors: 5 });
  if (result.errors) {
    throw new PlanningError('BAD_USER_INPUT', result.errors.map((e) => e.message).join('; '));
  }
  return result.coerced;
}
