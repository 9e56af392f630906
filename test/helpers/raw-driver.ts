import type { Driver } from '../../src/core/driver.js'
import { Store } from '../../src/store/store.js'

/** The driver behind a store, for tests that read or write bytes past the Store's checks. */
export const rawDriver = (store: Store): Driver => Store.internals(store).driver
