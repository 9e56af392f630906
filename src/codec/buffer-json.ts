/**
 * Baileys' BufferJSON semantics, reimplemented so the codec needs no Baileys import:
 * bytes become {type:'Buffer', data:<base64>}; on the way back such objects, and
 * objects whose keys are all numeric with number values, become Buffers.
 * This is the compatibility format: what useMultiFileAuthState writes and reads.
 */
export const bufferJsonReplacer = (_key: string, value: any): any => {
  if (value instanceof Uint8Array || value?.type === 'Buffer') {
    return { type: 'Buffer', data: Buffer.from(value?.data || value).toString('base64') }
  }
  return value
}

export const bufferJsonReviver = (_key: string, value: any): any => {
  if (typeof value === 'object' && value !== null && !Array.isArray(value)) {
    if (value.type === 'Buffer' && typeof value.data === 'string') return Buffer.from(value.data, 'base64')
    const keys = Object.keys(value)
    if (keys.length > 0 && keys.every(k => !isNaN(parseInt(k, 10)))) {
      const values = Object.values(value)
      if (values.every(v => typeof v === 'number')) return Buffer.from(values as number[])
    }
  }
  return value
}

export const toBufferJson = (value: unknown): string => JSON.stringify(value, bufferJsonReplacer)
export const fromBufferJson = (text: string): any => JSON.parse(text, bufferJsonReviver)
