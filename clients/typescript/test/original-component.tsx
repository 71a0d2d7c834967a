// The seed's component, "Basic Usage in Component" of ORIGINAL.md (../shared/ORIGINAL.md beside
// the repository), verbatim between the markers below except for its one import line:
// '@/hooks/useAiProxy' → '../src/react.js'. test/original.test.tsx checks that it still is.
// What the snippet takes from React and React Native without showing it comes first: React's
// useState and DOM stand-ins for View, TextInput, PrimaryButton and Text.
import { useState } from 'react';
import { PrimaryButton, Text, TextInput, View } from './react-native-stand-ins.js';

// ---- ORIGINAL.md, verbatim from here ----
// In your component
import { useAiProxy } from '../src/react.js';

const MyComponent = () => {
  const aiProxy = useAiProxy();
  const [input, setInput] = useState('');

  const handleSubmit = async () => {
    try {
      await aiProxy.mutateAsync(input);
    } catch (error) {
      console.error('Failed to process AI request:', error);
    }
  };

  return (
    <View>
      <TextInput
        value={input}
        onChangeText={setInput}
        placeholder="Describe your goal..."
      />
      
      <PrimaryButton
        onPress={handleSubmit}
        disabled={!input.trim() || aiProxy.isLoading}
        title={aiProxy.isLoading ? `Processing... ${aiProxy.progress}%` : "Generate Goals"}
      />
      
      {aiProxy.isJobFailed && (
        <Text className="text-red-400">
          Failed to generate goals. Please try again.
        </Text>
      )}
    </View>
  );
};
// ---- ORIGINAL.md, verbatim up to here ----

export { MyComponent };
