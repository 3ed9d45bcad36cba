import type { Pool } from '@ndx/service-kit';

/** A vehicle as the legacy SOAP service describes it (element names of the WSDL). */
export interface SoapVehicle {
  RegistrationNumber: string;
  Make: string;
  Model: string;
  YearOfManufacture: number;
  OwnerNic: string;
  Classes: { VehicleClass: SoapVehicleClass[] };
}

export interface SoapVehicleClass {
  ClassCode: string;
  ClassName: string;
}

/** Most vehicles one owner query returns (a bound on a loop over external data). */
export const MAX_VEHICLES_PER_OWNER = 200;

interface VehicleRow {
  registration_number: string;
  make: string;
  model: string;
  year_of_manufacture: number;
  owner_nic: string;
  classes: { code: string; name: string }[];
}

const VEHICLE_SELECT = `
  SELECT v.registration_number, v.make, v.model, v.year_of_manufacture, v.owner_nic,
         COALESCE(json_agg(json_build_object('code', c.class_code, 'name', c.class_name)
                  ORDER BY c.class_code) FILTER (WHERE c.class_code IS NOT NULL), '[]') AS classes
    FROM vehicles v
    LEFT JOIN vehicle_class_assignments a ON a.registration_number = v.registration_number
    LEFT JOIN vehicle_classes c ON c.class_code = a.class_code`;

function toSoap(row: VehicleRow): SoapVehicle {
  return {
    RegistrationNumber: row.registration_number,
    Make: row.make,
    Model: row.model,
    YearOfManufacture: row.year_of_manufacture,
    OwnerNic: row.owner_nic,
    Classes: { VehicleClass: row.classes.map((c) => ({ ClassCode: c.code, ClassName: c.name })) },
  };
}

/** Reads the DMT register (the lookups by key are named, i.e. prepared once per connection). */
export function vehicleRegistry(pool: Pool) {
  return {
    async byRegistrationNumber(registrationNumber: string): Promise<SoapVehicle | undefined> {
      const { rows } = await pool.query<VehicleRow>({
        name: 'dmt-vehicle-by-registration',
        text: `${VEHICLE_SELECT} WHERE v.registration_number = $1 GROUP BY v.registration_number`,
        values: [registrationNumber],
      });
      return rows[0] ? toSoap(rows[0]) : undefined;
    },
    async byOwner(ownerNic: string): Promise<SoapVehicle[]> {
      const { rows } = await pool.query<VehicleRow>({
        name: 'dmt-vehicles-by-owner',
        text: `${VEHICLE_SELECT} WHERE v.owner_nic = $1 GROUP BY v.registration_number
          ORDER BY v.registration_number LIMIT ${MAX_VEHICLES_PER_OWNER}`,
        values: [ownerNic],
      });
      return rows.map(toSoap);
    },
    async classes(): Promise<SoapVehicleClass[]> {
      const { rows } = await pool.query<{ class_code: string; class_name: string }>(
        'SELECT class_code, class_name FROM vehicle_classes ORDER BY class_code',
      );
      return rows.map((r) => ({ ClassCode: r.class_code, ClassName: r.class_name }));
    },
  };
}
