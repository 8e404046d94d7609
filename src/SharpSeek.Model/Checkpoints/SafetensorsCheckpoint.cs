// SafetensorsCheckpoint — every tensor of a Hugging Face checkpoint directory: `model.safetensors.index.json`
// (sharded: weight_map name -> shard file) or a single `model.safetensors`. Shards are memory-mapped lazily.
// The index must agree with the shards: a tensor the index maps to a shard that lacks it, a tensor in a shard
// that the index does not list, or a tensor present in two shards is an error naming both.
using System.Text.Json;

namespace SharpSeek.Model.Checkpoints;

public sealed unsafe class SafetensorsCheckpoint : IDisposable
{
    private readonly List<SafetensorsFile> _files = [];
    private readonly Dictionary<string, (SafetensorsFile File, SafetensorsTensorInfo Info)> _tensors = new(StringComparer.Ordinal);

    public string Directory { get; }
    public IReadOnlyList<SafetensorsFile> Files => _files;
    public IEnumerable<string> TensorNames => _tensors.Keys;
    public int Count => _tensors.Count;

    private SafetensorsCheckpoint(string directory) => Directory = directory;

    public static SafetensorsCheckpoint Open(string directory)
    {
        if (!System.IO.Directory.Exists(directory))
            throw new CheckpointException($"{directory}: no such checkpoint directory.");
        var ckpt = new SafetensorsCheckpoint(directory);
        try
        {
            string index = Path.Combine(directory, SafetensorsFormat.IndexFileName);
            if (File.Exists(index)) ckpt.OpenSharded(index);
            else
            {
                string single = Path.Combine(directory, SafetensorsFormat.SingleFileName);
                if (!File.Exists(single))
                    throw new CheckpointException(
                        $"{directory}: neither {SafetensorsFormat.IndexFileName} nor {SafetensorsFormat.SingleFileName} found; is this a Hugging Face checkpoint directory?");
                ckpt.AddFile(SafetensorsFile.Open(single), null);
            }
            return ckpt;
        }
        catch
        {
            ckpt.Dispose();
            throw;
        }
    }

    private void OpenSharded(string indexPath)
    {
        Dictionary<string, string> weightMap;
        try
        {
            using var doc = JsonDocument.Parse(File.ReadAllText(indexPath));
            if (!doc.RootElement.TryGetProperty("weight_map", out JsonElement wm) || wm.ValueKind != JsonValueKind.Object)
                throw new CheckpointException($"{indexPath}: missing the 'weight_map' object.");
            weightMap = new Dictionary<string, string>(StringComparer.Ordinal);
            foreach (JsonProperty p in wm.EnumerateObject())
            {
                if (p.Value.ValueKind != JsonValueKind.String)
                    throw new CheckpointException($"{indexPath}: weight_map['{p.Name}'] must be a file name.");
                weightMap[p.Name] = p.Value.GetString()!;
            }
        }
        catch (JsonException e)
        {
            throw new CheckpointException($"{indexPath}: not valid JSON ({e.Message}).", e);
        }
        foreach (string shard in weightMap.Values.Distinct().Order(StringComparer.Ordinal))
        {
            if (shard.Contains('/') || shard.Contains('\\') || shard.Contains(".."))
                throw new CheckpointException($"{indexPath}: shard name '{shard}' must be a plain file name in the checkpoint directory.");
            AddFile(SafetensorsFile.Open(Path.Combine(Directory, shard)), indexPath);
        }
        foreach (var (name, shard) in weightMap)
        {
            if (!_tensors.TryGetValue(name, out var at))
                throw new CheckpointException($"{indexPath}: maps tensor '{name}' to {shard}, but that shard has no such tensor.");
            if (Path.GetFileName(at.File.Path) != shard)
                throw new CheckpointException($"{indexPath}: maps tensor '{name}' to {shard}, but it is stored in {Path.GetFileName(at.File.Path)}.");
        }
        foreach (string name in _tensors.Keys)
            if (!weightMap.ContainsKey(name))
                throw new CheckpointException($"{indexPath}: tensor '{name}' is in {Path.GetFileName(_tensors[name].File.Path)} but not in the index's weight_map.");
    }

    private void AddFile(SafetensorsFile file, string? index)
    {
        _files.Add(file);
        foreach (var info in file.Tensors.Values)
            if (!_tensors.TryAdd(info.Name, (file, info)))
                throw new CheckpointException(
                    $"{file.Path}: tensor '{info.Name}' is also stored in {_tensors[info.Name].File.Path}{(index is null ? "" : $" (index {index})")}.");
    }

    public bool Contains(string name) => _tensors.ContainsKey(name);

    public SafetensorsTensorInfo Info(string name) => Get(name).Info;

    public string FileOf(string name) => Get(name).File.Path;

    public byte* Pointer(string name)
    {
        var (file, info) = Get(name);
        return file.Pointer(info);
    }

    private (SafetensorsFile File, SafetensorsTensorInfo Info) Get(string name) =>
        _tensors.TryGetValue(name, out var t) ? t
            : throw new CheckpointException($"{Directory}: the checkpoint has no tensor '{name}'.");

    public void Dispose()
    {
        foreach (var f in _files) f.Dispose();
        _files.Clear();
    }
}
