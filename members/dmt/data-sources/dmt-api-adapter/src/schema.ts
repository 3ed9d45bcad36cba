/** Schema id NDX registers this adapter's schema under (fl-config.json, @sourceInfo). */
export const SCHEMA_ID = 'dmt-schema-v1';

/** The DMT adapter's GraphQL schema: the fixed contract with NDX. */
export const sdl = `type Query {
  vehicle(regNo: ID!): Vehicle
  vehiclesByOwner(ownerNic: ID!): [Vehicle!]!
  vehicleClasses: [VehicleClass!]! # public reference catalogue
}

type Vehicle {
  registrationNumber: ID!
  make: String!
  model: String!
  yearOfManufacture: Int!
  classes: [VehicleClass!]!
}

type VehicleClass {
  className: String!
  classCode: String!
}
`;
