import { useCallback, useEffect, useRef, useState, type DependencyList } from "react";

export interface AsyncState<T> {
  data: T | undefined;
  error: unknown;
  loading: boolean;
  reload: () => void;
  setData: (value: T | undefined | ((prev: T | undefined) => T | undefined)) => void;
}

/**
 * Run `load` when `deps` change. Keeps the previous data while reloading (no flicker
 * when paging) and ignores answers that arrive after a newer request started.
 */
export function useAsync<T>(load: () => Promise<T>, deps: DependencyList): AsyncState<T> {
  const [data, setData] = useState<T | undefined>(undefined);
  const [error, setError] = useState<unknown>(undefined);
  const [loading, setLoading] = useState(true);
  const [nonce, setNonce] = useState(0);
  const seq = useRef(0);

  useEffect(() => {
    const mine = ++seq.current;
    setLoading(true);
    setError(undefined);
    load().then(
      (value) => {
        if (seq.current !== mine) return;
        setData(value);
        setLoading(false);
      },
      (err: unknown) => {
        if (seq.current !== mine) return;
        setError(err);
        setLoading(false);
      },
    );
    return () => {
      // a newer effect run (or unmount) makes this one stale
      if (seq.current === mine) seq.current += 1;
    };
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [...deps, nonce]);

  const reload = useCallback(() => setNonce((n) => n + 1), []);
  return { data, error, loading, reload, setData };
}
