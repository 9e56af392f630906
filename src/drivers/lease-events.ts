/** Shared types of the drivers' lease push channels (PostgreSQL NOTIFY, Redis pub/sub). */
export type { LeaseEvent } from '../core/driver.js'
export type { LeaseExtras } from './shared-lease.js'
