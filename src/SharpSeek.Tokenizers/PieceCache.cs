using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace SharpSeek.Tokenizers;

/// <summary>
/// Per-thread cache from a pre-token's chars to its BPE ids, laid out for few cache misses: one open-addressing
/// array of 24-byte entries (64-bit hash, key location, and the ids inline when there are at most two — most
/// English words are one token), plus flat arenas for key chars and longer id lists. A hit reads the entry, the
/// key chars (to verify; hashes are not trusted alone) and, rarely, the id arena. When the table is half full or
/// the arenas fill up, everything is dropped and refilled from the text that follows.
/// </summary>
internal sealed class PieceCache
{
    [StructLayout(LayoutKind.Sequential)]
    private struct Entry
    {
        public ulong Hash;      // 0 = empty slot
        public int KeyOffset;   // into _keys
        public ushort KeyLength;
        public ushort IdCount;
        public int Id0;         // first id, or offset into _ids when IdCount > 2
        public int Id1;
    }

    private const int Bits = 17;                 // 131072 slots, 3 MB
    private const int MaxKeyChars = 1 << 21;     // 4 MB of chars
    private const int MaxIds = 1 << 20;
    private readonly Entry[] _table = new Entry[1 << Bits];
    private readonly char[] _keys = new char[MaxKeyChars];
    private readonly int[] _ids = new int[MaxIds];
    private int _count, _keyUsed, _idUsed;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ulong Hash(ReadOnlySpan<char> s)
    {
        // 8 bytes at a time, multiply-xorshift mixing; the length seeds it. Never 0 (0 marks empty slots).
        ulong h = 0x9E3779B97F4A7C15UL ^ (ulong)s.Length;
        ReadOnlySpan<ulong> words = MemoryMarshal.Cast<char, ulong>(s);
        foreach (ulong w in words) h = BitOperations.RotateLeft((h ^ w) * 0xBF58476D1CE4E5B9UL, 31);
        for (int i = words.Length * 4; i < s.Length; i++) h = BitOperations.RotateLeft((h ^ s[i]) * 0x94D049BB133111EBUL, 29);
        h ^= h >> 32;
        h *= 0xD6E8FEB86659FD93UL;
        h ^= h >> 32;
        return h | 1;
    }

    /// <summary>Appends the cached ids of <paramref name="key"/> to <paramref name="output"/>; false on a miss.</summary>
    public bool TryAppend(ReadOnlySpan<char> key, ulong hash, List<int> output)
    {
        Entry[] table = _table;
        const int mask = (1 << Bits) - 1;
        for (int slot = (int)(hash >> (64 - Bits)); ; slot = (slot + 1) & mask)
        {
            ref Entry e = ref table[slot];
            if (e.Hash == 0) return false;
            if (e.Hash != hash || e.KeyLength != key.Length || !key.SequenceEqual(_keys.AsSpan(e.KeyOffset, e.KeyLength))) continue;
            if (e.IdCount == 1) output.Add(e.Id0);
            else if (e.IdCount == 2) { output.Add(e.Id0); output.Add(e.Id1); }
            else output.AddRange(_ids.AsSpan(e.Id0, e.IdCount));
            return true;
        }
    }

    public void Add(ReadOnlySpan<char> key, ulong hash, ReadOnlySpan<int> ids)
    {
        if (key.Length > ushort.MaxValue || ids.Length > ushort.MaxValue) return;
        if (_count >= (1 << Bits) / 2 || _keyUsed + key.Length > MaxKeyChars || (ids.Length > 2 && _idUsed + ids.Length > MaxIds)) Clear();
        const int mask = (1 << Bits) - 1;
        int slot = (int)(hash >> (64 - Bits));
        while (_table[slot].Hash != 0) slot = (slot + 1) & mask;
        ref Entry e = ref _table[slot];
        e.Hash = hash;
        e.KeyOffset = _keyUsed;
        e.KeyLength = (ushort)key.Length;
        e.IdCount = (ushort)ids.Length;
        key.CopyTo(_keys.AsSpan(_keyUsed));
        _keyUsed += key.Length;
        if (ids.Length <= 2)
        {
            e.Id0 = ids.Length > 0 ? ids[0] : 0;
            e.Id1 = ids.Length > 1 ? ids[1] : 0;
        }
        else
        {
            e.Id0 = _idUsed;
            ids.CopyTo(_ids.AsSpan(_idUsed));
            _idUsed += ids.Length;
        }
        _count++;
    }

    private void Clear()
    {
        Array.Clear(_table);
        _count = _keyUsed = _idUsed = 0;
    }
}
