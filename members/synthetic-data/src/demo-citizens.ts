/**
 * The named demo citizens: first in every registry, with sign-in passwords documented in
 * docs/demo-citizens.md. These are public demo fixtures, not secrets: they exist so that a
 * person trying NDX can sign in to the consent portal.
 *
 * NIC formats (both in use in Farajaland):
 *   old: YY DDD SSS C + V|X  (9 digits and a letter), e.g. 852321234V
 *   new: YYYY DDD SSSS C     (12 digits),             e.g. 199560201234
 * DDD is the day of the year of birth, plus 500 for women.
 */
export interface DemoCitizen {
  nic: string;
  /** Name as registered at birth (RGD). */
  birthName: string;
  /** Name as registered with DRP; differs from birthName where the registries disagree. */
  drpFullName: string | null;
  sex: 'MALE' | 'FEMALE';
  dateOfBirth: string;
  /** Portal sign-in password (documented demo fixture). */
  password: string;
  /** Base32 TOTP secret when the account has a second factor (documented demo fixture). */
  totpSecret?: string;
  /** Registration numbers of the vehicles this citizen owns at DMT. */
  vehicles: string[];
  note: string;
}

export const demoCitizens: readonly DemoCitizen[] = [
  {
    nic: '199560201234',
    birthName: 'Amara Chanda',
    drpFullName: 'Amara Chanda',
    sex: 'FEMALE',
    dateOfBirth: '1995-04-12',
    password: 'amara-demo-2026',
    vehicles: ['CAB-1234'],
    note: 'the main demo citizen: consistent in every registry, one vehicle',
  },
  {
    nic: '852321234V',
    birthName: 'Bwalya Mwansa',
    drpFullName: 'Bwalya Mwansa',
    sex: 'MALE',
    dateOfBirth: '1985-08-20',
    password: 'bwalya-demo-2026',
    vehicles: [],
    note: 'old-format NIC, no vehicles',
  },
  {
    nic: '200150500789',
    birthName: 'Chipo Zulu',
    drpFullName: 'Chipo Zulu',
    sex: 'FEMALE',
    dateOfBirth: '2001-01-05',
    password: 'chipo-demo-2026',
    totpSecret: 'JBSWY3DPEHPK3PXP',
    vehicles: [],
    note: 'has TOTP (second factor) enabled',
  },
  {
    nic: '783345678V',
    birthName: 'Daliso Phiri',
    drpFullName: 'Daliso Phiri',
    sex: 'MALE',
    dateOfBirth: '1978-11-30',
    password: 'daliso-demo-2026',
    vehicles: ['NDA-4521', 'KAF-0987', 'BUS-3310'],
    note: 'owns three vehicles',
  },
  {
    nic: '199066604567',
    birthName: 'Esther Banda',
    drpFullName: 'Ester Banda',
    sex: 'FEMALE',
    dateOfBirth: '1990-06-15',
    password: 'esther-demo-2026',
    vehicles: [],
    note: 'her name is spelled differently at RGD and DRP',
  },
  {
    nic: '200360207777',
    birthName: 'Faith Mulenga',
    drpFullName: null,
    sex: 'FEMALE',
    dateOfBirth: '2003-04-12',
    password: 'faith-demo-2026',
    vehicles: [],
    note: 'born and registered at RGD, but missing from DRP',
  },
];
