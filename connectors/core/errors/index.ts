export { MpmError } from './mpm-error.ts';
export { ConfigError } from './config-error.ts';
export { AuthError } from './auth-error.ts';
export { RateLimitError } from './rate-limit-error.ts';
export { TransientError } from './transient-error.ts';
export { SchemaError } from './schema-error.ts';
export { UsageLimitError } from './usage-limit-error.ts';
export { RequestError } from './request-error.ts';
