import { GraphQLError, Lexer, Source, TokenKind } from 'graphql';

/**
 * Counts the lexical tokens of a GraphQL document and stops at the first one past `maxTokens`, so
 * an enormous document is refused before it is parsed. Syntax errors are left for the parser to
 * report (a 400 with its own message), never turned into a server error.
 */
export function exceedsTokenLimit(query: string, maxTokens: number): boolean {
  if (query.length <= maxTokens) return false; // every token is at least one character
  const lexer = new Lexer(new Source(query));
  let count = 0;
  try {
    while (lexer.advance().kind !== TokenKind.EOF) {
      if (++count > maxTokens) return true;
    }
  } catch (err) {
    if (err instanceof GraphQLError) return false;
    throw err;
  }
  return false;
}
