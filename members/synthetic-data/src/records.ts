import type { Sex } from './nic.ts';

/** One row of RGD's birth register (table birth_records). Dates are YYYY-MM-DD. */
export interface BirthRecord {
  birthRegistrationNumber: string;
  nic: string;
  fullName: string;
  dateOfBirth: string;
  birthPlace: string;
  district: string;
  division: string;
  sex: Sex;
  fatherName: string | null;
  fatherNic: string | null;
  motherName: string | null;
  motherNic: string | null;
  registeredOn: string;
}

/** One row of DRP's person register (table persons). */
export interface PersonRecord {
  nic: string;
  fullName: string;
  otherNames: string | null;
  permanentAddress: string;
  profession: string | null;
  sex: Sex;
  dateOfBirth: string;
}

/** One vehicle of DMT's register (tables vehicles and vehicle_class_assignments). */
export interface VehicleRecord {
  registrationNumber: string;
  make: string;
  model: string;
  yearOfManufacture: number;
  ownerNic: string;
  classCodes: readonly string[];
}

/** A citizen as each registry knows them: always born at RGD, sometimes missing from DRP, owning 0..n vehicles. */
export interface SyntheticCitizen {
  /** Position in the generated sequence (demo citizens are 0..5). */
  index: number;
  birth: BirthRecord;
  /** null when the citizen is missing from DRP. */
  person: PersonRecord | null;
  vehicles: VehicleRecord[];
}
