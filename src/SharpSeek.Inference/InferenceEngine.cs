// InferenceEngine — prefill and incremental decode of a batch of sequences over one preallocated latent KV cache.
//
// Each sequence owns a cache slot; Prefill writes a prompt (naive MLA, chunks of up to MaxTokens rows),
// Decode feeds one token per active sequence (absorbed MLA over the latent cache) and returns their logits.
// Sequences of different lengths share one forward call: the batch packs their rows and each attends over its
// own slot. The cache holds only c_kv and k_pe: bytes per token = (kv_lora_rank + qk_rope_head_dim) × layers × 4.
using SharpSeek.Model;
using SharpSeek.Model.Layers;

namespace SharpSeek.Inference;

public sealed class InferenceEngine : IDisposable
{
    private readonly ForwardBatch _batch;
    private readonly int[] _lengths;      // tokens cached per slot
    private readonly int[] _rows;
    public DeepSeekV3 Model { get; }
    public LatentKvCache Cache { get; }
    public int Slots => Cache.Slots;
    public int MaxSeqLen => Cache.MaxSeqLen;

    public InferenceEngine(ModelWeights weights, ForwardContext context, int slots, int maxSeqLen, int maxPrefillTokens = 256)
    {
        int maxTokens = Math.Max(maxPrefillTokens, slots);
        Model = new DeepSeekV3(weights, context, new ForwardCapacity(maxTokens, slots, maxSeqLen));
        Cache = new LatentKvCache(weights.Config, slots, maxSeqLen);
        _batch = new ForwardBatch(maxTokens, slots);
        _lengths = new int[slots];
        _rows = new int[slots];
    }

    public int Vocab => Model.Vocab;
    public long KvBytesPerToken => Cache.BytesPerToken;
    public int Length(int slot) => _lengths[slot];

    public void Reset(int slot) => _lengths[slot] = 0;

    /// <summary>Appends prompts to their slots (different lengths allowed) and writes, for each prompt in order,
    /// the logits after its last token into <paramref name="logits"/> (P, V).</summary>
    public void Prefill(IReadOnlyList<(int Slot, int[] Ids)> prompts, Span<float> logits)
    {
        int cap = Model.Capacity.MaxTokens;
        var done = new int[prompts.Count];
        while (true)
        {
            _batch.Clear();
            int budget = cap, pending = 0;
            var members = new List<int>();
            for (int i = 0; i < prompts.Count && budget > 0; i++)
            {
                var (slot, ids) = prompts[i];
                int left = ids.Length - done[i];
                if (left == 0) continue;
                CheckRoom(slot, left);
                int take = Math.Min(left, budget);
                _batch.Add(slot, _lengths[slot], ids.AsSpan(done[i], take));
                members.Add(i);
                budget -= take;
                pending++;
            }
            if (pending == 0) break;
            Model.Forward(_batch, Cache, MlaPath.Naive);
            DeepSeekV3.LastRows(_batch, _rows);
            for (int m = 0; m < members.Count; m++)
            {
                int i = members[m];
                var seq = _batch.Sequences[m];
                _lengths[seq.Slot] += seq.Rows;
                done[i] += seq.Rows;
                if (done[i] == prompts[i].Ids.Length)
                    Model.Logits(_rows.AsSpan(m, 1), logits.Slice(i * Vocab, Vocab));
            }
        }
    }

    /// <summary>One decode step: token <paramref name="tokens"/>[i] is appended to slot <paramref name="slots"/>[i];
    /// logits (B, V) of the new positions. Allocates nothing.</summary>
    public void Decode(ReadOnlySpan<int> slots, ReadOnlySpan<int> tokens, Span<float> logits)
    {
        _batch.Clear();
        for (int i = 0; i < slots.Length; i++)
        {
            CheckRoom(slots[i], 1);
            _batch.Add(slots[i], _lengths[slots[i]], tokens.Slice(i, 1));
        }
        Model.Forward(_batch, Cache, MlaPath.Absorbed);
        for (int i = 0; i < slots.Length; i++)
        {
            _lengths[slots[i]]++;
            _rows[i] = i;
        }
        Model.Logits(_rows.AsSpan(0, slots.Length), logits);
    }

    private void CheckRoom(int slot, int tokens)
    {
        if ((uint)slot >= (uint)Slots) throw new ArgumentException($"slot {slot} is outside [0, {Slots}).");
        if (_lengths[slot] + tokens > MaxSeqLen)
            throw new ArgumentException($"slot {slot} would hold {_lengths[slot] + tokens} tokens; the KV cache holds {MaxSeqLen} per sequence.");
    }

    public void Dispose()
    {
        Model.Dispose();
        Cache.Dispose();
    }
}
