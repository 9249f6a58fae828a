import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { App } from './App.tsx';
import { connectStatus } from './store.ts';
import './styles.css';

const root = document.getElementById('root');
if (root === null) throw new Error('index.html has no #root element');

connectStatus(window.scopelink);
createRoot(root).render(
  <StrictMode>
    <App />
  </StrictMode>,
);
