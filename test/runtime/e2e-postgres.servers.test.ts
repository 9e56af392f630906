/**
 * The session runtime end to end on PostgreSQL, encrypted (so the 401 backup is sealed). Needs
 * the test servers (scripts/with-test-servers.sh); without them it fails, it never skips.
 */
import { freshPostgres } from '../helpers/servers.js'
import { testEncryption } from '../helpers/encryption-keys.js'
import { runtimeSuite } from '../helpers/runtime-suite.js'

runtimeSuite('PostgreSQL (encrypted)', async () => ({ ...(await freshPostgres('runtime')), options: { encryption: testEncryption() } }))
