/**
 * explainer.html: the plain explainer as a page of its own, for links from pages other than the popup (the protect
 * page's matrix). The popup shows the same component behind a disclosure.
 */
import { render } from 'preact';
import { Explainer } from '../../ui/explainer.tsx';
import './explainer.css';

render(
  <>
    <h1>What Face Cloak's protection estimate means</h1>
    <Explainer />
  </>,
  document.getElementById('app')!,
);
