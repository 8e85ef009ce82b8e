/**
 * Reading user-keyed maps safely. A plain object used as a map inherits
 * `constructor`, `toString`, `valueOf`, …, so `map[userKey]` on a key nobody
 * set returns a function instead of undefined (`{}['constructor'] ?? 0` is
 * `Object`, and `Object - 0` is NaN, which compares false with everything).
 * Read such maps through `own`.
 */
export function own<T>(map: Readonly<Record<string, T>>, key: string): T | undefined {
  return Object.hasOwn(map, key) ? map[key] : undefined;
}
