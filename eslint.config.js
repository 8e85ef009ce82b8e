import js from '@eslint/js';
import tseslint from 'typescript-eslint';

/**
 * The pure core (specs, planners, state machines, reconcilers, use cases)
 * must not reach infrastructure: no AWS SDK, no Kubernetes client, no sockets.
 * Adapters implement the ports in `shared/ports/` instead.
 */
const PURE_CORE = [
  'shared/**/*.ts',
  'control/**/*.ts',
  'scheduler/state/**/*.ts',
  'worker/state/**/*.ts',
];

const INFRA_IMPORTS = {
  paths: [
    { name: 'net', message: 'The pure core does no I/O; put sockets in an adapter or shell.' },
    { name: 'node:net', message: 'The pure core does no I/O; put sockets in an adapter or shell.' },
    { name: 'tls', message: 'The pure core does no I/O.' },
    { name: 'node:tls', message: 'The pure core does no I/O.' },
    { name: '@kubernetes/client-node', message: 'Use the ComputeBackend port; the EKS adapter owns the Kubernetes client.' },
  ],
  patterns: [
    { group: ['@aws-sdk/*', '@smithy/*', 'aws-sdk'], message: 'The pure core imports no AWS SDK; use a port.' },
    { group: ['**/adapters/**'], message: 'The pure core depends on ports, not adapters.' },
  ],
};

export default tseslint.config(
  { ignores: ['node_modules/**', '.serverless/**', '.esbuild/**', '.recc/**', 'dist/**', 'coverage/**', 'bench/dask/**', '**/*.gen.ts'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { ecmaVersion: 2023, sourceType: 'module' },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/no-explicit-any': 'off',
      '@typescript-eslint/no-non-null-assertion': 'error',
      'no-empty': ['error', { allowEmptyCatch: true }],
      // TypeScript checks undefined names; the core rule does not know Node globals.
      'no-undef': 'off',
    },
  },
  {
    files: PURE_CORE,
    rules: { 'no-restricted-imports': ['error', INFRA_IMPORTS] },
  },
  {
    // The published client reads the API's view types from shared/api, never from a use case.
    files: ['client/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', { patterns: [{ group: ['**/control/**'], message: 'Import API types from shared/api/views.ts; client/ must not depend on control/.' }] }],
    },
  },
  {
    files: ['test/**/*.ts', 'bench/**/*.ts', '**/*.test.ts'],
    rules: { '@typescript-eslint/no-non-null-assertion': 'off' },
  },
);
