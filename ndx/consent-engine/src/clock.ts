/** Where the Consent Engine reads the time; tests inject their own to control expiry. */
export interface Clock {
  now(): Date;
}

export const systemClock: Clock = { now: () => new Date() };
