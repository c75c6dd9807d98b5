/** Code-split wrappers: Markdown, highlighting and their libraries load on first use. */
import { lazy, Suspense } from "react";
import { Loading } from "./Feedback";

const MarkdownImpl = lazy(() => import("./Markdown"));
const CodeViewImpl = lazy(() => import("./CodeView"));

export function LazyMarkdown(props: { source: string; testId?: string }) {
  return (
    <Suspense fallback={<Loading label="Rendering…" />}>
      <MarkdownImpl {...props} />
    </Suspense>
  );
}

export function LazyCode(props: { code: string; path?: string; language?: string }) {
  return (
    <Suspense fallback={<pre className="code-view">{props.code.slice(0, 5000)}</pre>}>
      <CodeViewImpl {...props} />
    </Suspense>
  );
}
