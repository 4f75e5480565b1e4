/**
 * The machine policy an IT administrator sets (docs/admin/policy.md). The composition root calls
 * `loadMachinePolicy({ platform: process.platform })` once at start and hands the result to
 * MainServices, which refuses sessions while it is `invalid`.
 */
export { loadMachinePolicy, loadMachinePolicyFile, realPorts, type LoadMachinePolicyOptions, type MachinePolicyResult } from './load.js';
export { DEFAULT_LOCATIONS, policySources, type MachinePolicyLocations } from './locations.js';
export type { MachinePolicyPorts, FileRead, PlistRead, ExecFile } from './ports.js';
export type { MachinePolicy } from '../../common/machine-policy.js';
