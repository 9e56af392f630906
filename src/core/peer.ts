import { VaultError } from './errors.js'

/**
 * Imports an optional peer package (a database client, prom-client) when the feature that needs
 * it is first used, so a bot that never opens PostgreSQL never needs `pg` installed. A missing
 * package is BACKEND_UNAVAILABLE naming the feature and the install command.
 */
export async function loadPeer<T>({ name, feature, load }: { name: string; feature: string; load: () => Promise<T> }): Promise<T> {
  try {
    return await load()
  } catch (cause) {
    throw new VaultError('BACKEND_UNAVAILABLE', `${feature} needs the ${name} package: npm install ${name}`, { cause })
  }
}
