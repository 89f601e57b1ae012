import { randomInt } from 'node:crypto';

const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';

/**
 * A deployment key: 32 characters of A–Z0–9 as Nova's, but from the cryptographic random source
 * (Nova used Python's `random`, so keys were guessable).
 */
export function generateDeployKey(): string {
  let k = '';
  for (let i = 0; i < 32; i++) k += ALPHABET[randomInt(ALPHABET.length)];
  return k;
}

/** What a deploy key looks like (checked wherever one comes in: RPC arguments, the ramdisk's callback). */
export const DEPLOY_KEY_PATTERN = /^[A-Z0-9]{32}$/;
