using System.Runtime.CompilerServices;

namespace SharpSeek.Tokenizers;

/// <summary>
/// Byte-level BPE over token ids. A word (the UTF-8 bytes of one pre-token) starts as one symbol per byte; the
/// adjacent pair with the lowest merge rank is merged, leftmost first on ties, until no pair has a merge.
/// Merges are looked up by the ids of the two halves (a <c>(left, right) -> (rank, merged id)</c> table), so the
/// hot loop handles only ints, never strings.
/// Two implementations that must agree (tests compare them): <see cref="EncodeWordNaive"/> rescans all pairs
/// after every merge (O(n²), the reference), <see cref="EncodeWord"/> keeps the pair ranks of short words in a
/// small array and switches to a heap over a linked list for long words (O(n log n): a 1 MB run of letters is one
/// pre-token).
/// </summary>
public sealed class BpeModel
{
    private readonly PairTable _merges;
    private readonly int[] _byteIds; // (256) id of the single-byte token for each byte, -1 when the vocab lacks it

    /// <summary>Rank (0 = first merge) and resulting id of merging two tokens.</summary>
    public readonly record struct Merge(int Rank, int Id);

    /// <summary>Words of at most this many bytes use the array path; longer ones the heap path.</summary>
    public const int ShortWordLimit = 256;

    public BpeModel(int[] byteIds, PairTable merges)
    {
        if (byteIds.Length != 256) throw new ArgumentException($"byteIds must have 256 entries, got {byteIds.Length}.");
        _byteIds = byteIds;
        _merges = merges;
    }

    public int MergeCount => _merges.Count;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static long PairKey(int left, int right) => ((long)left << 32) | (uint)right;

    public bool TryGetMerge(int left, int right, out Merge merge)
    {
        bool found = _merges.TryGet(PairKey(left, right), out int rank, out int id);
        merge = new Merge(rank, id);
        return found;
    }

    /// <summary>Appends the ids of one word's BPE segmentation to <paramref name="output"/>.</summary>
    public void EncodeWord(ReadOnlySpan<byte> word, List<int> output)
    {
        if (word.Length == 0) return;
        if (word.Length == 1) { output.Add(ByteId(word[0])); return; }
        if (word.Length <= ShortWordLimit) EncodeShort(word, output);
        else EncodeLong(word, output);
    }

    [SkipLocalsInit]
    private void EncodeShort(ReadOnlySpan<byte> word, List<int> output)
    {
        int n = word.Length;
        Span<int> ids = stackalloc int[n];      // (n) current symbols
        Span<int> ranks = stackalloc int[n];    // (n) rank of pair (i, i+1); int.MaxValue = no merge
        Span<int> merged = stackalloc int[n];   // (n) id that pair (i, i+1) merges into
        for (int i = 0; i < n; i++) ids[i] = ByteId(word[i]);
        var merges = _merges;
        for (int i = 0; i + 1 < n; i++) LookUp(merges, ids[i], ids[i + 1], out ranks[i], out merged[i]);
        while (n > 1)
        {
            int best = int.MaxValue, at = -1;
            for (int i = 0; i + 1 < n; i++)
                if (ranks[i] < best) { best = ranks[i]; at = i; }
            if (at < 0) break;
            ids[at] = merged[at];
            // Remove symbol at+1 by shifting the tail left (short words: cheaper than a linked list).
            int tail = n - at - 2;
            ids.Slice(at + 2, tail).CopyTo(ids.Slice(at + 1));
            ranks.Slice(at + 2, tail).CopyTo(ranks.Slice(at + 1));
            merged.Slice(at + 2, tail).CopyTo(merged.Slice(at + 1));
            n--;
            if (at > 0) LookUp(merges, ids[at - 1], ids[at], out ranks[at - 1], out merged[at - 1]);
            if (at + 1 < n) LookUp(merges, ids[at], ids[at + 1], out ranks[at], out merged[at]);
            else ranks[at] = int.MaxValue;
        }
        for (int i = 0; i < n; i++) output.Add(ids[i]);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void LookUp(PairTable merges, int left, int right, out int rank, out int id) =>
        merges.TryGet(PairKey(left, right), out rank, out id);

    private void EncodeLong(ReadOnlySpan<byte> word, List<int> output)
    {
        int n = word.Length;
        var ids = new int[n];
        var prev = new int[n];
        var next = new int[n];
        for (int i = 0; i < n; i++) { ids[i] = ByteId(word[i]); prev[i] = i - 1; next[i] = i + 1 < n ? i + 1 : -1; }
        // Priority (rank, position): lowest rank first, leftmost first among equal ranks — the same order as
        // the rescanning reference. Positions are original symbol indices, which keep left-to-right order.
        var queue = new PriorityQueue<int, long>(n);
        for (int i = 0; i + 1 < n; i++)
            if (TryGetMerge(ids[i], ids[i + 1], out Merge m)) queue.Enqueue(i, PairKey(m.Rank, i));
        while (queue.TryDequeue(out int pos, out long priority))
        {
            int right = next[pos];
            if (ids[pos] < 0 || right < 0) continue; // merged away, or now the last symbol
            if (!TryGetMerge(ids[pos], ids[right], out Merge m) || m.Rank != (int)(priority >> 32)) continue; // stale
            ids[pos] = m.Id;
            ids[right] = -1;
            next[pos] = next[right];
            if (next[pos] >= 0) prev[next[pos]] = pos;
            if (prev[pos] >= 0 && TryGetMerge(ids[prev[pos]], ids[pos], out Merge left))
                queue.Enqueue(prev[pos], PairKey(left.Rank, prev[pos]));
            if (next[pos] >= 0 && TryGetMerge(ids[pos], ids[next[pos]], out Merge after))
                queue.Enqueue(pos, PairKey(after.Rank, pos));
        }
        for (int i = 0; i >= 0; i = next[i]) output.Add(ids[i]);
    }

    /// <summary>Reference: after every merge, rescan all adjacent pairs for the lowest rank (leftmost on ties).</summary>
    public void EncodeWordNaive(ReadOnlySpan<byte> word, List<int> output)
    {
        var ids = new List<int>(word.Length);
        foreach (byte b in word) ids.Add(ByteId(b));
        while (ids.Count > 1)
        {
            int best = int.MaxValue, at = -1, id = -1;
            for (int i = 0; i + 1 < ids.Count; i++)
                if (TryGetMerge(ids[i], ids[i + 1], out Merge m) && m.Rank < best) { best = m.Rank; at = i; id = m.Id; }
            if (at < 0) break;
            ids[at] = id;
            ids.RemoveAt(at + 1);
        }
        output.AddRange(ids);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private int ByteId(byte b)
    {
        int id = _byteIds[b];
        return id >= 0 ? id : ThrowMissingByte(b);
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static int ThrowMissingByte(byte b) => throw new InvalidDataException(
        $"The BPE vocabulary has no token for byte 0x{b:X2} ('{ByteLevel.ByteToChar[b]}') and no unk_token; " +
        "this text cannot be encoded with this tokenizer.");
}
