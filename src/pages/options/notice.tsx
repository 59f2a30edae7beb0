/** A section's result line on the options page: a change saved, what an import skipped, or what went wrong. */

/** An error's message for a notice. */
export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

export type Message = { kind: 'ok' | 'error' | 'info'; text: string; details?: string[] } | null;

export function Notice({ message }: { message: Message }) {
  return (
    <div aria-live="polite" class="notice-slot">
      {message && (
        <div class={`notice notice--${message.kind}`} role={message.kind === 'error' ? 'alert' : 'status'} data-testid="notice">
          <p>{message.text}</p>
          {message.details && message.details.length > 0 && (
            <ul>
              {message.details.map((d) => (
                <li key={d}>{d}</li>
              ))}
            </ul>
          )}
        </div>
      )}
    </div>
  );
}
