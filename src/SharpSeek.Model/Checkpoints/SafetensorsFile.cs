// SafetensorsFile — one memory-mapped .safetensors file, read lazily.
//
// Opening parses and checks only the header; tensor bytes are touched when a caller reads them. Checks, each
// with a CheckpointException naming the file (and tensor): header length within the file and <= 100 MB; header is
// a JSON object of objects; known dtype; non-negative shape; data_offsets = [begin, end] with
// end - begin = elements × element size; every range inside the data region; ranges contiguous from 0 with no
// gap or overlap, ending exactly at the end of the file.
using System.IO.MemoryMappedFiles;
using System.Text;
using System.Text.Json;

namespace SharpSeek.Model.Checkpoints;

/// <summary>One tensor's header entry. <see cref="Offset"/> is absolute in the file.</summary>
public sealed record SafetensorsTensorInfo(string Name, SafetensorsDType DType, long[] Shape, long Offset, long ByteLength)
{
    public long ElementCount => SafetensorsFormat.ElementCount(Shape);
}

public sealed unsafe class SafetensorsFile : IDisposable
{
    private readonly MemoryMappedFile? _map;
    private readonly MemoryMappedViewAccessor? _view;
    private byte* _base;
    private readonly Dictionary<string, SafetensorsTensorInfo> _tensors;

    public string Path { get; }
    public long FileLength { get; }
    public IReadOnlyDictionary<string, string> Metadata { get; }
    public IReadOnlyDictionary<string, SafetensorsTensorInfo> Tensors => _tensors;

    private SafetensorsFile(string path, long length, MemoryMappedFile? map, MemoryMappedViewAccessor? view,
        Dictionary<string, SafetensorsTensorInfo> tensors, Dictionary<string, string> metadata)
    {
        Path = path;
        FileLength = length;
        _map = map;
        _view = view;
        _tensors = tensors;
        Metadata = metadata;
        if (view is not null) view.SafeMemoryMappedViewHandle.AcquirePointer(ref _base);
    }

    public static SafetensorsFile Open(string path)
    {
        if (!File.Exists(path)) throw new CheckpointException($"{path}: no such safetensors file.");
        long length = new FileInfo(path).Length;
        if (length < 8)
            throw new CheckpointException($"{path}: truncated: {length} bytes, shorter than the 8-byte header length. Re-download the file.");

        byte[] header;
        using (var fs = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read))
        {
            Span<byte> lenBytes = stackalloc byte[8];
            fs.ReadExactly(lenBytes);
            ulong n = BitConverter.ToUInt64(lenBytes);
            if (n > (ulong)(length - 8))
                throw new CheckpointException(
                    $"{path}: header length says {n} bytes but only {length - 8} follow: the file is truncated or the header length is wrong.");
            if (n > SafetensorsFormat.MaxHeaderBytes)
                throw new CheckpointException($"{path}: header length {n} exceeds the {SafetensorsFormat.MaxHeaderBytes}-byte limit; this is not a safetensors file.");
            header = new byte[n];
            fs.ReadExactly(header);
        }
        long dataStart = 8 + header.Length;
        var (tensors, metadata) = ParseHeader(path, header, dataStart, length);

        MemoryMappedFile? map = null;
        MemoryMappedViewAccessor? view = null;
        if (length > 0)
        {
            map = MemoryMappedFile.CreateFromFile(path, FileMode.Open, null, 0, MemoryMappedFileAccess.Read);
            view = map.CreateViewAccessor(0, 0, MemoryMappedFileAccess.Read);
        }
        return new SafetensorsFile(path, length, map, view, tensors, metadata);
    }

    private static (Dictionary<string, SafetensorsTensorInfo>, Dictionary<string, string>) ParseHeader(
        string path, byte[] header, long dataStart, long fileLength)
    {
        // JsonDocument checks UTF-8 only when a string is read (GetString throws InvalidOperationException), so a
        // corrupt byte inside a tensor name would surface later without naming the file.
        if (!System.Text.Unicode.Utf8.IsValid(header))
        {
            int at = 0;
            while (System.Text.Rune.DecodeFromUtf8(header.AsSpan(at), out _, out int used) == System.Buffers.OperationStatus.Done) at += used;
            throw new CheckpointException($"{path}: the header is not valid UTF-8 (byte {8 + at} of the file); the file is corrupt or not safetensors.");
        }
        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(header);
        }
        catch (JsonException e)
        {
            throw new CheckpointException($"{path}: the header is not valid JSON ({e.Message}); the file is corrupt or not safetensors.", e);
        }
        using (doc)
        {
            if (doc.RootElement.ValueKind != JsonValueKind.Object)
                throw new CheckpointException($"{path}: the header must be a JSON object.");
            var tensors = new Dictionary<string, SafetensorsTensorInfo>(StringComparer.Ordinal);
            var metadata = new Dictionary<string, string>(StringComparer.Ordinal);
            long dataLength = fileLength - dataStart;
            foreach (JsonProperty p in doc.RootElement.EnumerateObject())
            {
                if (p.Name == "__metadata__")
                {
                    if (p.Value.ValueKind == JsonValueKind.Object)
                        foreach (JsonProperty m in p.Value.EnumerateObject())
                            metadata[m.Name] = m.Value.ValueKind == JsonValueKind.String ? m.Value.GetString()! : m.Value.GetRawText();
                    continue;
                }
                var info = ParseEntry(path, p, dataStart, dataLength);
                if (!tensors.TryAdd(p.Name, info))
                    throw new CheckpointException($"{path}: tensor '{p.Name}' appears twice in the header.");
            }
            CheckContiguous(path, tensors.Values, dataStart, dataLength);
            return (tensors, metadata);
        }
    }

    private static SafetensorsTensorInfo ParseEntry(string path, JsonProperty p, long dataStart, long dataLength)
    {
        string t = p.Name;
        JsonElement e = p.Value;
        if (e.ValueKind != JsonValueKind.Object)
            throw new CheckpointException($"{path}: tensor '{t}': header entry must be an object with dtype, shape, data_offsets.");
        if (!e.TryGetProperty("dtype", out JsonElement dt) || dt.ValueKind != JsonValueKind.String)
            throw new CheckpointException($"{path}: tensor '{t}': missing 'dtype'.");
        if (!SafetensorsFormat.TryParse(dt.GetString(), out var dtype))
            throw new CheckpointException($"{path}: tensor '{t}': unsupported dtype '{dt.GetString()}' (SharpSeek reads F32, F16, BF16, F8_E4M3).");
        if (!e.TryGetProperty("shape", out JsonElement sh) || sh.ValueKind != JsonValueKind.Array)
            throw new CheckpointException($"{path}: tensor '{t}': missing 'shape' array.");
        var shape = new long[sh.GetArrayLength()];
        int i = 0;
        foreach (JsonElement d in sh.EnumerateArray())
        {
            if (d.ValueKind != JsonValueKind.Number || !d.TryGetInt64(out long v) || v < 0)
                throw new CheckpointException($"{path}: tensor '{t}': shape entries must be non-negative integers (got {sh.GetRawText()}).");
            shape[i++] = v;
        }
        if (!e.TryGetProperty("data_offsets", out JsonElement off) || off.ValueKind != JsonValueKind.Array || off.GetArrayLength() != 2)
            throw new CheckpointException($"{path}: tensor '{t}': 'data_offsets' must be [begin, end].");
        long begin = off[0].TryGetInt64(out long b0) ? b0 : -1, end = off[1].TryGetInt64(out long e0) ? e0 : -1;
        if (begin < 0 || end < begin)
            throw new CheckpointException($"{path}: tensor '{t}': data_offsets [{off[0]}, {off[1]}] are not a valid range.");
        if (end > dataLength)
            throw new CheckpointException(
                $"{path}: tensor '{t}': data_offsets [{begin}, {end}] run past the end of the data ({dataLength} bytes): the file is truncated or the offsets are wrong.");
        long elements;
        try { elements = SafetensorsFormat.ElementCount(shape); }
        catch (OverflowException) { throw new CheckpointException($"{path}: tensor '{t}': shape {sh.GetRawText()} overflows."); }
        long expected = elements * SafetensorsFormat.ElementSize(dtype);
        if (end - begin != expected)
            throw new CheckpointException(
                $"{path}: tensor '{t}': {end - begin} bytes in data_offsets, but {dtype} {SafetensorsFormat.ShapeString(shape)} needs {expected}.");
        return new SafetensorsTensorInfo(t, dtype, shape, dataStart + begin, end - begin);
    }

    private static void CheckContiguous(string path, IEnumerable<SafetensorsTensorInfo> tensors, long dataStart, long dataLength)
    {
        long cursor = dataStart;
        string? previous = null;
        foreach (var t in tensors.OrderBy(t => t.Offset).ThenBy(t => t.ByteLength))
        {
            if (t.Offset < cursor)
                throw new CheckpointException($"{path}: tensor '{t.Name}' overlaps tensor '{previous}' (data_offsets begin at {t.Offset - dataStart}, previous ends at {cursor - dataStart}).");
            if (t.Offset > cursor)
                throw new CheckpointException($"{path}: gap of {t.Offset - cursor} bytes before tensor '{t.Name}': data_offsets must be contiguous.");
            cursor = t.Offset + t.ByteLength;
            previous = t.Name;
        }
        if (cursor != dataStart + dataLength)
            throw new CheckpointException($"{path}: {dataStart + dataLength - cursor} trailing bytes after the last tensor: the header does not describe the whole file.");
    }

    public SafetensorsTensorInfo Info(string name) =>
        _tensors.TryGetValue(name, out var info) ? info
            : throw new CheckpointException($"{Path}: no tensor '{name}'.");

    /// <summary>Raw little-endian bytes of a tensor, mapped from the file (no copy).</summary>
    public byte* Pointer(SafetensorsTensorInfo info)
    {
        ObjectDisposedException.ThrowIf(_base == null && FileLength > 0, this);
        return _base + info.Offset;
    }

    /// <summary>The tensor's bytes as a span (tensors over 2 GB: use <see cref="Pointer"/>).</summary>
    public ReadOnlySpan<byte> Bytes(string name)
    {
        var info = Info(name);
        return new ReadOnlySpan<byte>(Pointer(info), checked((int)info.ByteLength));
    }

    public void Dispose()
    {
        if (_view is not null && _base != null)
        {
            _view.SafeMemoryMappedViewHandle.ReleasePointer();
            _base = null;
        }
        _view?.Dispose();
        _map?.Dispose();
    }
}
