// Two projects: `fast` (pure logic, seconds) and `slow` (real tools, rootfs builds, qemu boots).
// `npm test` runs both; `npm run test:fast` runs the fast tier alone.
const common = {
  preset: 'ts-jest/presets/default-esm',
  testEnvironment: 'node',
  extensionsToTreatAsEsm: ['.ts'],
  moduleNameMapper: { '^(\\.{1,2}/.*)\\.js$': '$1' },
  transform: { '^.+\\.ts$': ['ts-jest', { useESM: true, tsconfig: 'tsconfig.json', diagnostics: { ignoreCodes: [151002] } }] },
};
export default {
  projects: [
    { ...common, displayName: 'fast', testMatch: ['<rootDir>/tests/**/*.test.ts'] },
    { ...common, displayName: 'slow', testMatch: ['<rootDir>/tests/**/*.slow.ts'] },
  ],
};
