/** Public entry point of the sandbox world. */
export { generateWorld, defaultChannelGroup, DEFAULT_END_DATE, DEFAULT_SCALE, DEFAULT_SEED } from './world.ts';
export { opportunityProbability } from './journey.ts';
export { sfId, sfChecksum, hubspotId, resolveScale, InvalidScaleError } from './catalog.ts';
export { Rng, entitySeed } from './rng.ts';
export { InvalidDateError } from './dates.ts';
export * from './types.ts';
