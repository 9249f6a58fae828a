// Layering (see ../shared/design.md): src-agent is plain Node, src-main hosts it in
// Electron, src-renderer sees only the IPC contract's types, src-server shares only
// the protocol codec (and the SQLite promise wrapper, which holds no agent logic).
import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import globals from 'globals';

const electronAndDom = [
  {
    name: 'electron',
    message: 'src-agent runs under plain Node: pass Electron facts in as config.',
  },
  { name: 'react', message: 'src-agent never imports UI code.' },
  { name: 'react-dom', message: 'src-agent never imports UI code.' },
];

export default tseslint.config(
  { ignores: ['node_modules', 'out', 'dist', 'coverage', '.demo'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: { ...globals.node } },
    rules: {
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_', ignoreRestSiblings: true },
      ],
      '@typescript-eslint/consistent-type-imports': 'error',
      eqeqeq: ['error', 'smart'],
    },
  },
  {
    files: ['src-agent/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: electronAndDom,
          patterns: [
            {
              group: ['**/src-main/**', '**/src-renderer/**', '**/src-server/**'],
              message: 'src-agent depends on Node and its npm dependencies only.',
            },
          ],
        },
      ],
    },
  },
  {
    files: ['src-server/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: electronAndDom,
          patterns: [
            {
              regex: 'src-agent/(?!transport/codec\\.ts$|outbox/sqlite\\.ts$)',
              message:
                'src-server shares only the protocol codec and the SQLite wrapper with src-agent.',
            },
            {
              group: ['**/src-main/**', '**/src-renderer/**'],
              message: 'not a server dependency.',
            },
          ],
        },
      ],
    },
  },
  {
    files: ['src-main/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            { group: ['**/src-renderer/**'], message: 'main talks to the renderer over IPC only.' },
            { group: ['**/src-server/**'], message: 'the app never hosts the server.' },
          ],
        },
      ],
    },
  },
  {
    files: ['src-renderer/**/*.{ts,tsx}', 'test/renderer/**/*.{ts,tsx}'],
    languageOptions: { globals: { ...globals.browser } },
  },
  {
    files: ['src-renderer/**/*.{ts,tsx}'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: [
            { name: 'electron', message: 'the renderer is sandboxed: use the preload verbs.' },
          ],
          patterns: [
            {
              regex: 'src-main/(?!ipc-contract\\.ts$)',
              message: 'the renderer imports only the IPC contract from src-main.',
            },
            {
              regex: 'src-main/ipc-contract\\.ts$',
              allowTypeImports: true,
              message: 'the renderer imports only types from the IPC contract.',
            },
            {
              group: ['**/src-agent/**', '**/src-server/**'],
              message: 'the renderer reaches the engine over IPC only.',
            },
          ],
        },
      ],
    },
  },
);
