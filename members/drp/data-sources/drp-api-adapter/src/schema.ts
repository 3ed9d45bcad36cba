/** Schema id NDX registers this adapter's schema under (fl-config.json, @sourceInfo). */
export const SCHEMA_ID = 'drp-schema-v1';

/** The DRP adapter's GraphQL schema: the fixed contract with NDX. */
export const sdl = `type Query {
  person(nic: ID!): Person
}

type Person {
  nic: ID!
  fullName: String!
  otherNames: String
  permanentAddress: String!
  profession: String
}
`;
