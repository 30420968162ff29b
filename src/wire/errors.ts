// Wire errors are values, not exceptions: the decoder's hot path must never throw on packet
// bytes (V8 builds a stack trace per throw) and must know *why* it stopped.

export type WireErrorKind = 'truncated' | 'malformed' | 'bad_length' | 'unsupported';

export interface WireError {
  readonly wireError: WireErrorKind;
  readonly detail: string;
}

/** A successful check returns a value; a failed one a WireError. */
export type WireResult<T> = T | WireError;

export function wireError(kind: WireErrorKind, detail: string): WireError {
  return { wireError: kind, detail };
}

export function isWireError(x: unknown): x is WireError {
  return typeof x === 'object' && x !== null && 'wireError' in x;
}
