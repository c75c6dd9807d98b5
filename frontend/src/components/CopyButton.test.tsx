import { act, fireEvent, render, screen } from "@testing-library/react";
import { afterEach, describe, expect, it, vi } from "vitest";
import { version } from "../test/fixtures";
import { CopyButton } from "./CopyButton";
import { InstallSnippets } from "./InstallSnippets";

function stubClipboard() {
  const writeText = vi.fn().mockResolvedValue(undefined);
  Object.defineProperty(navigator, "clipboard", { value: { writeText }, configurable: true });
  return writeText;
}

afterEach(() => {
  Reflect.deleteProperty(navigator, "clipboard");
});

describe("<CopyButton>", () => {
  it("writes its text to the clipboard and confirms", async () => {
    const writeText = stubClipboard();
    render(<CopyButton text="pip install gsm8k" label="Copy pip command" testId="copy" />);
    const button = screen.getByRole("button", { name: "Copy pip command" });
    await act(async () => {
      fireEvent.click(button);
    });
    expect(writeText).toHaveBeenCalledWith("pip install gsm8k");
    expect(button.textContent).toBe("Copied");
    expect(screen.getByRole("status").textContent).toBe("Copied to clipboard");
  });

  it("reports a refused copy", async () => {
    const writeText = vi.fn().mockRejectedValue(new Error("denied"));
    Object.defineProperty(navigator, "clipboard", { value: { writeText }, configurable: true });
    render(<CopyButton text="x" />);
    await act(async () => {
      fireEvent.click(screen.getByRole("button"));
    });
    expect(screen.getByRole("button").textContent).toBe("Copy failed");
  });
});

describe("<InstallSnippets>", () => {
  it("has a copy button per installer that copies that command", async () => {
    const writeText = stubClipboard();
    render(<InstallSnippets install={version.install} />);
    for (const kind of ["envhub", "pip", "uv", "prime"] as const) {
      await act(async () => {
        fireEvent.click(screen.getByTestId(`copy-install-${kind}`));
      });
      expect(writeText).toHaveBeenLastCalledWith(version.install[kind]);
    }
    expect(screen.getByRole("button", { name: "Copy uv install command" })).toBeTruthy();
  });
});
