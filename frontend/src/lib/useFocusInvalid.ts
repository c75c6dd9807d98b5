import { useCallback, useEffect, useRef, useState } from "react";

/**
 * After a failed submit, move keyboard focus to the first invalid field of the form
 * (`aria-invalid="true"`), so keyboard and screen-reader users land on the error.
 */
export function useFocusInvalid<T extends HTMLElement = HTMLFormElement>() {
  const formRef = useRef<T>(null);
  const [attempt, setAttempt] = useState(0);
  useEffect(() => {
    if (attempt) formRef.current?.querySelector<HTMLElement>('[aria-invalid="true"]')?.focus();
  }, [attempt]);
  const focusInvalid = useCallback(() => setAttempt((n) => n + 1), []);
  return { formRef, focusInvalid };
}
