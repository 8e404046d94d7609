// CheckpointDirectory — crash-safe checkpoints: every save is a new directory, and one symbolic link names the
// current one, replaced by a single rename(2).
//
//   <out>/checkpoint                   → checkpoint-000120   (symlink; always a complete checkpoint)
//   <out>/checkpoint-000120/           HF layout + trainer_state.json + optimizer.safetensors
//   <out>/.checkpoint-000130.tmp/      a save in progress
//   <out>/.checkpoint.link.tmp         the new link, just before it is renamed over `checkpoint`
//
// Save: write every file into .checkpoint-<step>.tmp, fsync each file; write trainer_state.json last (it holds the
// manifest: every file with its byte size); fsync it and the directory; rename the directory to checkpoint-<step>;
// fsync <out>; make the new link and rename it over `checkpoint`; fsync <out>; then delete older checkpoint-*.
// A kill -9 at any point leaves `checkpoint` naming a complete checkpoint — the old one until the link's rename,
// the new one after it — so `sharpseek generate --model <out>/checkpoint` and `--resume` both work whatever
// moment the process died. Resolve also verifies the manifest and falls back to the newest complete
// checkpoint-* directory, so even a hand-damaged link does not lose the run.
using System.Globalization;
using System.Runtime.InteropServices;
using System.Text.Json;

namespace SharpSeek.Training.Checkpoints;

/// <summary>One file of a checkpoint: its name inside the directory and how to write it.</summary>
public sealed record CheckpointFile(string Name, Action<string> WriteTo);

public static partial class CheckpointDirectory
{
    /// <summary>The link that names the current checkpoint.</summary>
    public const string CurrentName = "checkpoint";
    private const string VersionPrefix = "checkpoint-";
    private const string LinkTemporaryName = ".checkpoint.link.tmp";

    /// <summary>Stages passed to the <c>hook</c> of <see cref="Save"/>, in order (plus "file:NAME" after each file).</summary>
    public const string StageBegin = "begin", StageWritten = "written", StageRenamed = "renamed", StageLinked = "linked";

    /// <summary>Writes <paramref name="files"/> plus <paramref name="state"/> (last, with the file manifest) as a new
    /// checkpoint directory and points <c>&lt;out&gt;/checkpoint</c> at it; returns <c>&lt;out&gt;/checkpoint</c>.
    /// <paramref name="hook"/> (tests, <see cref="SavePause"/>) is called with each stage name — "begin", "file:NAME"
    /// after each file, "written", "renamed" (before the link switch), "linked" (before old ones are deleted);
    /// throwing from it simulates a crash at that point.</summary>
    public static string Save(string outDir, IReadOnlyList<CheckpointFile> files, TrainerState state, Action<string>? hook = null)
    {
        Directory.CreateDirectory(outDir);
        hook?.Invoke(StageBegin);
        string current = Path.Combine(outDir, CurrentName);
        RemoveLeftovers(outDir);
        string? live = AdoptLegacyDirectory(outDir) ?? LinkTarget(current);
        string name = VersionName(state.Step);
        for (int n = 1; name == live; n++) name = VersionName(state.Step) + "." + n.ToString(CultureInfo.InvariantCulture);
        string final = Path.Combine(outDir, name), tmp = Path.Combine(outDir, "." + name + ".tmp");
        if (Directory.Exists(final)) Directory.Delete(final, recursive: true); // renamed by a save that died before its link
        Directory.CreateDirectory(tmp);

        var manifest = new SortedDictionary<string, long>(StringComparer.Ordinal);
        foreach (CheckpointFile f in files)
        {
            if (f.Name == TrainerState.FileName || f.Name.Contains('/') || f.Name.Contains('\\'))
                throw new ArgumentException($"checkpoint file name '{f.Name}' is reserved or not a plain file name.");
            string path = Path.Combine(tmp, f.Name);
            f.WriteTo(path);
            FsyncFile(path);
            manifest[f.Name] = new FileInfo(path).Length;
            hook?.Invoke("file:" + f.Name);
        }
        string statePath = Path.Combine(tmp, TrainerState.FileName);
        File.WriteAllText(statePath, (state with { Files = manifest }).ToJson());
        FsyncFile(statePath);
        FsyncDirectory(tmp);
        hook?.Invoke(StageWritten);

        Directory.Move(tmp, final);
        FsyncDirectory(outDir);
        hook?.Invoke(StageRenamed);
        string link = Path.Combine(outDir, LinkTemporaryName);
        File.CreateSymbolicLink(link, name);
        ReplaceAtomically(link, current);
        FsyncDirectory(outDir);
        hook?.Invoke(StageLinked);
        foreach (string old in Directory.GetDirectories(outDir, VersionPrefix + "*"))
            if (Path.GetFileName(old) != name) Directory.Delete(old, recursive: true);
        return current;
    }

    /// <summary>The newest complete checkpoint under <paramref name="outDir"/>: <c>checkpoint</c> when its manifest
    /// checks out, else the complete checkpoint-* directory with the highest step; null when there is none.</summary>
    public static string? Resolve(string outDir)
    {
        string current = Path.Combine(outDir, CurrentName);
        if (IsComplete(current)) return current;
        if (!Directory.Exists(outDir)) return null;
        return Directory.GetDirectories(outDir, VersionPrefix + "*")
            .Where(IsComplete)
            .OrderByDescending(d => TrainerState.Load(Path.Combine(d, TrainerState.FileName)).Step)
            .FirstOrDefault();
    }

    /// <summary>True when <paramref name="dir"/> has a trainer_state.json whose manifest matches the files on disk.</summary>
    public static bool IsComplete(string dir)
    {
        string statePath = Path.Combine(dir, TrainerState.FileName);
        if (!File.Exists(statePath)) return false;
        TrainerState state;
        try { state = TrainerState.Load(statePath); }
        catch (Exception e) when (e is JsonException or InvalidDataException) { return false; }
        foreach (var (name, bytes) in state.Files)
        {
            var fi = new FileInfo(Path.Combine(dir, name));
            if (!fi.Exists || fi.Length != bytes) return false;
        }
        return true;
    }

    private static string VersionName(long step) => VersionPrefix + step.ToString("D6", CultureInfo.InvariantCulture);

    /// <summary>The directory name a link points to, or null when <paramref name="path"/> is no link.</summary>
    private static string? LinkTarget(string path)
    {
        var info = new FileInfo(path);
        return info.LinkTarget is { } target ? Path.GetFileName(Path.TrimEndingDirectorySeparator(target)) : null;
    }

    /// <summary>Deletes what a save that died left behind: its temporary directory and temporary link.</summary>
    private static void RemoveLeftovers(string outDir)
    {
        foreach (string tmp in Directory.GetDirectories(outDir, "." + VersionPrefix + "*.tmp")) Directory.Delete(tmp, recursive: true);
        string link = Path.Combine(outDir, LinkTemporaryName);
        if (File.Exists(link) || new FileInfo(link).LinkTarget is not null) File.Delete(link);
    }

    /// <summary>A run saved by an older build has a plain <c>checkpoint</c> directory: move it to checkpoint-legacy
    /// (Resolve still finds it there) so the link can take its name. Returns its new name, or null.</summary>
    private static string? AdoptLegacyDirectory(string outDir)
    {
        string current = Path.Combine(outDir, CurrentName);
        if (!Directory.Exists(current) || LinkTarget(current) is not null) return null;
        const string legacy = VersionPrefix + "legacy";
        Directory.Move(current, Path.Combine(outDir, legacy));
        FsyncDirectory(outDir);
        return legacy;
    }

    /// <summary>rename(2): replaces <paramref name="to"/> (a link or file) in one step, never leaving it absent.</summary>
    private static void ReplaceAtomically(string from, string to)
    {
        if (OperatingSystem.IsWindows())
        {
            File.Move(from, to, overwrite: true);
            return;
        }
        if (Rename(from, to) != 0)
            throw new IOException($"cannot rename '{from}' to '{to}' (errno {Marshal.GetLastPInvokeError()}); check permissions of the run directory.");
    }

    private static void FsyncFile(string path)
    {
        using var fs = new FileStream(path, FileMode.Open, FileAccess.ReadWrite, FileShare.Read);
        fs.Flush(flushToDisk: true);
    }

    /// <summary>fsync of a directory makes the renames and new entries in it durable (POSIX only; a no-op elsewhere).</summary>
    private static void FsyncDirectory(string dir)
    {
        if (OperatingSystem.IsWindows()) return;
        int fd = Open(dir, 0 /* O_RDONLY */);
        if (fd < 0) return; // best effort: some file systems refuse to open directories
        try { _ = Fsync(fd); }
        finally { _ = Close(fd); }
    }

    [LibraryImport("libc", EntryPoint = "open", StringMarshalling = StringMarshalling.Utf8)]
    private static partial int Open(string path, int flags);
    [LibraryImport("libc", EntryPoint = "fsync")]
    private static partial int Fsync(int fd);
    [LibraryImport("libc", EntryPoint = "close")]
    private static partial int Close(int fd);
    [LibraryImport("libc", EntryPoint = "rename", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    private static partial int Rename(string from, string to);
}
