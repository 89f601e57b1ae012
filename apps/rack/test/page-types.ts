/**
 * The little of the DOM that the tests' page functions (puppeteer's evaluate, $eval, waitForFunction)
 * use: the project compiles without TypeScript's DOM library, so they name it through these.
 * Types only: a page function runs in the browser, where it can import nothing.
 */
export interface PageElement {
  getAttribute(name: string): string | null;
  querySelector(selector: string): PageElement | null;
  querySelectorAll(selector: string): Iterable<PageElement> & ArrayLike<PageElement>;
  readonly textContent: string | null;
  readonly innerText: string;
  readonly tagName: string;
  readonly classList: { contains(name: string): boolean };
}

export interface PageWindow {
  document: {
    querySelector(selector: string): PageElement | null;
    querySelectorAll(selector: string): Iterable<PageElement> & ArrayLike<PageElement>;
    getElementById(id: string): PageElement | null;
  };
  MutationObserver: new (callback: () => void) => { observe(target: PageElement, o: { childList: boolean }): void };
  /** What the tests leave on the page (recorded states), and what hostile text would set. */
  [name: `__${string}`]: unknown;
}
