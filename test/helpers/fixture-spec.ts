import { existsSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

/**
 * Who is in the Baileys fixture and where it lives. No I/O beyond locating the repository, so
 * the generator (scripts/make-fixtures.ts) can import it before the fixture exists.
 */

/** The repository: the nearest folder above this file holding package.json (source or build/). */
function repoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url))
  while (!existsSync(join(dir, 'package.json'))) {
    const parent = dirname(dir)
    if (parent === dir) throw new Error('package.json not found above test/helpers: run from inside the repository')
    dir = parent
  }
  return dir
}

export const FIXTURE_ROOT = join(repoRoot(), 'test', 'fixtures', 'baileys-7-multifile')

export const FIXTURE_NAMES = ['alice', 'bob', 'carol'] as const
export type FixtureName = (typeof FIXTURE_NAMES)[number]

/** Phone number and LID user of each fixture account. */
export const PEOPLE: Record<FixtureName, { pn: string; lid: string }> = {
  alice: { pn: '15550000001', lid: '90000000000001' },
  bob: { pn: '15550000002', lid: '90000000000002' },
  carol: { pn: '15550000003', lid: '90000000000003' }
}

/** PN jids the devices address each other by (what the fixture's sessions were built with). */
export const JID: Record<FixtureName, string> = {
  alice: `${PEOPLE.alice.pn}@s.whatsapp.net`,
  bob: `${PEOPLE.bob.pn}@s.whatsapp.net`,
  carol: `${PEOPLE.carol.pn}@s.whatsapp.net`
}

/** The group alice and bob have sent to; carol is a member too. */
export const GROUP = '120363000000000001@g.us'
