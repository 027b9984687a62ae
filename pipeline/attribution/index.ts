/** Attribution math: data-driven models on path summaries and reference rule models. */
export * from './types.ts';
export * from './linalg.ts';
export * from './markov.ts';
export * from './shapley.ts';
export * from './spread.ts';
export * from './rules.ts';
export * from './evaluate.ts';
