/** Conversions between Postgres LSN text (`16/B374D848`) and 64-bit integers. */

/** Parses `X/Y` into an integer. */
export function lsnToBigInt(lsn: string): bigint {
  const slash = lsn.indexOf("/");
  if (slash < 0) throw new Error(`invalid LSN: ${lsn}`);
  return (BigInt(`0x${lsn.slice(0, slash)}`) << 32n) | BigInt(`0x${lsn.slice(slash + 1)}`);
}

/** Formats an integer LSN as `X/Y`. */
export function bigIntToLsn(value: bigint): string {
  const hi = value >> 32n;
  const lo = value & 0xffffffffn;
  return `${hi.toString(16).toUpperCase()}/${lo.toString(16).toUpperCase()}`;
}
