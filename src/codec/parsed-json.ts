/**
 * Bodies whose bytes, decoded as UTF-8, are already known to pass JSON.parse: a bulk listing of
 * a file: folder parses each file on its read-ahead thread (file-read-thread.ts), so checkBody
 * on the consumer's thread does not parse the same text again (the parse and its garbage were
 * the largest share of a migration's main-thread CPU after SQLite). Keyed by the Buffer object
 * itself: a body opened differently (an envelope byte stripped, a value unsealed) is a new object
 * and is parsed as before. Only the listing that read the bytes marks them, before handing them out.
 */
const parsed = new WeakSet<Uint8Array>()

export const markParsedJson = (body: Uint8Array): void => void parsed.add(body)

export const isParsedJson = (body: Uint8Array): boolean => parsed.has(body)
