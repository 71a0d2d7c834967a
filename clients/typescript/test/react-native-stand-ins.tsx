// DOM stand-ins for the React Native components the seed's component code uses (ORIGINAL.md),
// with React Native's prop names, so that code renders in jsdom unchanged.
import type { ReactNode } from 'react';

export const View = ({ children }: { children?: ReactNode }) => <div>{children}</div>;

export const Text = ({ children, className }: { children?: ReactNode; className?: string }) => (
  <span className={className}>{children}</span>
);

export const TextInput = (props: { value: string; onChangeText: (text: string) => void; placeholder?: string }) => (
  <input value={props.value} placeholder={props.placeholder} onChange={(e) => props.onChangeText(e.target.value)} />
);

/** The app's own button: a title, onPress, disabled. */
export const PrimaryButton = (props: { title: string; onPress: () => void; disabled?: boolean }) => (
  <button type="button" onClick={props.onPress} disabled={props.disabled}>
    {props.title}
  </button>
);
