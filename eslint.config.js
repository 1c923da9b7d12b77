// Lint rules: typescript-eslint recommended, two type-aware rules (a promise nobody awaits or
// handles, a switch over a union that misses a case), plus the layering rule that keeps
// src/domain framework-free (no generated code, no gRPC, no ORM).
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['gen/**', 'node_modules/**', '.lash/**', 'coverage/**', '.tmp/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
    },
  },
  {
    // Type information from tsconfig.json (the project service): a few rules need the types.
    files: ['**/*.ts'],
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      // A `default` branch counts as handling the rest; a switch without one must name every case.
      '@typescript-eslint/switch-exhaustiveness-check': ['error', { considerDefaultExhaustiveForUnions: true }],
    },
  },
  {
    files: ['src/domain/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            { group: ['**/gen/**', '../../gen/*'], message: 'src/domain must not import generated protobuf code.' },
            { group: ['@grpc/*'], message: 'src/domain must not import gRPC.' },
            { group: ['@mikro-orm/*'], message: 'src/domain must not import the ORM.' },
            { group: ['**/store/**', '**/grpc/**'], message: 'src/domain depends only on its own ports.' },
          ],
        },
      ],
    },
  },
);
