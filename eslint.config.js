// Lint rules: typescript-eslint recommended, plus the layering rule that keeps src/domain
// framework-free (no generated code, no gRPC, no ORM).
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
    files: ['src/domain/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', {
        patterns: [
          { group: ['**/gen/**', '../../gen/*'], message: 'src/domain must not import generated protobuf code.' },
          { group: ['@grpc/*'], message: 'src/domain must not import gRPC.' },
          { group: ['@mikro-orm/*'], message: 'src/domain must not import the ORM.' },
          { group: ['**/store/**', '**/grpc/**'], message: 'src/domain depends only on its own ports.' },
        ],
      }],
    },
  },
);
