using System.Runtime.CompilerServices;

namespace SharpSeek.Tokenizers;

/// <summary>
/// Open-addressing hash table from a token pair (two ids packed in a long) to its merge (rank, merged id).
/// <c>long.GetHashCode</c> is <c>lo ^ hi</c>, which for id pairs collides massively (every (a, b) with the same
/// a ^ b); this table uses a Fibonacci multiplicative hash and linear probing over flat arrays.
/// </summary>
public sealed class PairTable
{
    private readonly long[] _keys;   // (capacity) packed pair, -1 = empty
    private readonly int[] _ranks;   // (capacity)
    private readonly int[] _ids;     // (capacity)
    private readonly int _shift;
    private readonly int _mask;

    public int Count { get; private set; }

    public PairTable(int expected)
    {
        int bits = Math.Max(4, 64 - System.Numerics.BitOperations.LeadingZeroCount((ulong)Math.Max(1, expected * 2 - 1)));
        int capacity = 1 << bits;
        _keys = new long[capacity];
        Array.Fill(_keys, -1L);
        _ranks = new int[capacity];
        _ids = new int[capacity];
        _shift = 64 - bits;
        _mask = capacity - 1;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private int Slot(long key) => (int)(((ulong)key * 0x9E3779B97F4A7C15UL) >> _shift);

    /// <summary>Adds the pair unless present (the first, lowest rank wins). Returns false if it was present.</summary>
    public bool TryAdd(long key, int rank, int id)
    {
        if (Count * 2 >= _keys.Length) throw new InvalidOperationException("PairTable is full; size it for the merge count.");
        for (int i = Slot(key); ; i = (i + 1) & _mask)
        {
            if (_keys[i] == key) return false;
            if (_keys[i] == -1L)
            {
                _keys[i] = key; _ranks[i] = rank; _ids[i] = id;
                Count++;
                return true;
            }
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool TryGet(long key, out int rank, out int id)
    {
        long[] keys = _keys;
        for (int i = Slot(key); ; i = (i + 1) & _mask)
        {
            long k = keys[i];
            if (k == key) { rank = _ranks[i]; id = _ids[i]; return true; }
            if (k == -1L) { rank = int.MaxValue; id = -1; return false; }
        }
    }
}

/// <summary>A well-mixing comparer for packed pair keys in ordinary dictionaries (see <see cref="PairTable"/>).</summary>
public sealed class PairKeyComparer : IEqualityComparer<long>
{
    public static readonly PairKeyComparer Instance = new();
    public bool Equals(long x, long y) => x == y;
    public int GetHashCode(long key) => (int)(((ulong)key * 0x9E3779B97F4A7C15UL) >> 32);
}
