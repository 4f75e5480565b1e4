/** Closes every switch: the compiler fails when a new member is added and not handled. */
export function missingCase(value: never): never {
  throw new Error(`Unhandled case: ${JSON.stringify(value)}`);
}
