/**
 * A value as Baileys stores it: whatever Baileys handed to `keys.set` or `saveCreds` (protobuf
 * objects, Buffers, Longs, plain JSON). Its shape depends on the key type and on Baileys'
 * version; the codec keeps it exact without knowing it, so it is typed as Baileys types it.
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- the one place the project spells Baileys' untyped values
export type StoredValue = any
