#!/usr/bin/python3
"""
Power-cut filesystem for tests: a pass-through FUSE layer over a backing directory that
remembers what a disk would still hold after losing power, and can roll the backing
directory back to exactly that.

    /usr/bin/python3 test/tools/powercut_fs.py BACKING MOUNTPOINT SHADOW

What survives a cut (the usual POSIX/ext4 contract, made strict):
  * file bytes and size: only as of the file's last fsync/fdatasync;
  * directory entries (create, mkdir, symlink, rename, link, unlink, rmdir): only as of
    the directory's last fsync (a symbolic link's target is in its inode: durable with
    its entry). A file whose entry was never made durable is gone, whatever
    was fsync'd into it; a directory whose own entries were never fsync'd comes back empty.

Everything under BACKING when the layer starts counts as durable. Files are identified by
the backing inode (an id is handed out per created file, so a reused inode number is a new
file); synced contents are kept under SHADOW/<id>, only the ranges written since the last
sync are copied at each sync.

Control, one command per line on stdin:
  cut   -> from now on every operation fails with EIO (the "power" is off), then BACKING is
           rewritten to the durable state; prints "cut-done" when it is. Unmount afterwards.
  fail OP SUFFIX ERRNO -> operations OP (write: write/truncate/fsync; fsync: fsync alone; unlink) on paths ending
           with SUFFIX fail with ERRNO (e.g. EIO, ENOSPC) until "heal"; prints "ok".
           OP fsync-persisted: the fsync makes the bytes durable, then fails anyway (an
           error the caller cannot tell from one that lost them).
  stall fsync SUFFIX -> fsync/fdatasync of paths ending with SUFFIX block (a disk that
           stops answering) until "heal"; other operations go on; prints "ok".
  stall write SUFFIX -> the same for writes (a network volume or a full dirty cache that
           holds write() itself); prints "ok".
  heal  -> no more injected failures, stalled syncs return; prints "ok".
Prints "ready" once mounted. Exits when unmounted.
"""
import errno
import os
import shutil
import sys
import threading

from fusepy import FUSE, FuseOSError, Operations


class PowerCutFS(Operations):
    def __init__(self, backing, shadow):
        self.backing = os.path.realpath(backing)
        self.shadow = os.path.realpath(shadow)
        self.mutex = threading.RLock()
        self.off = False
        self.next_id = 1
        self.ids = {}  # backing inode -> file id
        self.kind = {}  # file id -> 'd' | 'f' | 'l'
        self.link_targets = {}  # symbolic link id -> its target
        self.durable_dirs = {}  # dir id -> {name: file id}
        self.durable_size = {}  # file id -> size of SHADOW/<id>
        self.dirty = {}  # file id -> [(offset, length)] written since its last sync
        self.fh_id = {}  # open file handle -> file id
        self.fh_path = {}  # open file handle -> path
        self.faults = []  # (op, suffix, errno) injected failures
        self.stalls = []  # suffixes whose fsyncs block until heal
        self.write_stalls = []  # suffixes whose writes block until heal
        self.healed = threading.Event()
        os.makedirs(os.path.join(self.shadow, 'data'), exist_ok=True)
        self.root = self._snapshot_tree(self.backing)

    # ---- bookkeeping ------------------------------------------------------------------

    def _new_id(self, ino, kind):
        fid = self.next_id
        self.next_id += 1
        self.ids[ino] = fid
        self.kind[fid] = kind
        return fid

    def _id(self, real):
        st = os.lstat(real)
        fid = self.ids.get(st.st_ino)
        if fid is None:
            fid = self._new_id(st.st_ino, 'l' if os.path.islink(real) else 'd' if os.path.isdir(real) else 'f')
        return fid

    def _shadow(self, fid):
        return os.path.join(self.shadow, 'data', str(fid))

    def _snapshot_tree(self, real):
        """Everything present at start is durable."""
        fid = self._id(real)
        if os.path.islink(real):
            self.link_targets[fid] = os.readlink(real)
        elif os.path.isdir(real):
            entries = {}
            for name in os.listdir(real):
                entries[name] = self._snapshot_tree(os.path.join(real, name))
            self.durable_dirs[fid] = entries
        elif os.path.isfile(real):
            shutil.copyfile(real, self._shadow(fid))
            self.durable_size[fid] = os.path.getsize(real)
        return fid

    def _sync_file(self, fid, fd):
        size = os.fstat(fd).st_size
        shadow = self._shadow(fid)
        mode = 'r+b' if os.path.exists(shadow) else 'w+b'
        with open(shadow, mode) as out:
            out.truncate(size)
            for off, length in self.dirty.pop(fid, []):
                if off >= size:
                    continue
                length = min(length, size - off)
                out.seek(off)
                out.write(os.pread(fd, length, off))
        self.durable_size[fid] = size

    def _sync_dir(self, real):
        fid = self._id(real)
        entries = {}
        for name in os.listdir(real):
            entries[name] = self._id(os.path.join(real, name))
        self.durable_dirs[fid] = entries

    def _forget_if_last_link(self, real):
        try:
            st = os.lstat(real)
        except FileNotFoundError:
            return
        if os.path.isdir(real) or st.st_nlink <= 1:
            self.ids.pop(st.st_ino, None)

    def cut(self):
        with self.mutex:
            self.off = True
            tree = os.path.join(self.shadow, 'tree')
            shutil.rmtree(tree, ignore_errors=True)
            self._restore(self.root, tree)
            for name in os.listdir(self.backing):
                p = os.path.join(self.backing, name)
                if os.path.isdir(p) and not os.path.islink(p):
                    shutil.rmtree(p)
                else:
                    os.unlink(p)
            for name in os.listdir(tree):
                # A move, not a rename: the backing may be a small disk of its own.
                shutil.move(os.path.join(tree, name), os.path.join(self.backing, name))
            os.rmdir(tree)

    def _restore(self, fid, dest):
        if self.kind.get(fid) == 'd':
            os.mkdir(dest)
            for name, child in self.durable_dirs.get(fid, {}).items():
                self._restore(child, os.path.join(dest, name))
        elif self.kind.get(fid) == 'l':
            os.symlink(self.link_targets[fid], dest)
        else:
            src = self._shadow(fid)
            if fid in self.durable_size and os.path.exists(src):
                shutil.copyfile(src, dest)
            else:
                open(dest, 'wb').close()

    def inject(self, op, path):
        for f_op, suffix, err in self.faults:
            if f_op == op and path.endswith(suffix):
                raise FuseOSError(err)

    # ---- operations -------------------------------------------------------------------

    def _real(self, path):
        return os.path.join(self.backing, path.lstrip('/'))

    def __call__(self, op, *args):
        if op == 'fsync' and self.stalls:
            # Outside the mutex: only the stalled syncs wait, the rest of the disk answers.
            path = self.fh_path.get(args[2], args[0] or '')
            if any(path.endswith(s) for s in self.stalls):
                self.healed.wait()
        if op == 'write' and self.write_stalls:
            path = self.fh_path.get(args[3], args[0] or '')
            if any(path.endswith(s) for s in self.write_stalls):
                self.healed.wait()
        with self.mutex:
            if self.off:
                raise FuseOSError(errno.EIO)
            try:
                return super().__call__(op, *args)
            except OSError as e:
                if isinstance(e, FuseOSError):
                    raise
                raise FuseOSError(e.errno or errno.EIO)

    def init(self, path):
        print('ready', flush=True)

    def access(self, path, mode):
        if not os.access(self._real(path), mode):
            raise FuseOSError(errno.EACCES)

    def getattr(self, path, fh=None):
        st = os.fstat(fh) if fh is not None else os.lstat(self._real(path))
        return {k: getattr(st, k) for k in (
            'st_atime', 'st_ctime', 'st_gid', 'st_mode', 'st_mtime', 'st_nlink', 'st_size', 'st_uid', 'st_ino')}

    def readdir(self, path, fh):
        return ['.', '..'] + os.listdir(self._real(path))

    def readlink(self, path):
        return os.readlink(self._real(path))

    def statfs(self, path):
        st = os.statvfs(self._real(path))
        return {k: getattr(st, k) for k in (
            'f_bavail', 'f_bfree', 'f_blocks', 'f_bsize', 'f_favail', 'f_ffree', 'f_files', 'f_flag',
            'f_frsize', 'f_namemax')}

    def chmod(self, path, mode):
        os.chmod(self._real(path), mode)

    def chown(self, path, uid, gid):
        os.chown(self._real(path), uid, gid)

    def utimens(self, path, times=None):
        os.utime(self._real(path), times)

    def mkdir(self, path, mode):
        real = self._real(path)
        os.mkdir(real, mode)
        self._new_id(os.lstat(real).st_ino, 'd')

    def rmdir(self, path):
        real = self._real(path)
        self._forget_if_last_link(real)
        os.rmdir(real)

    def unlink(self, path):
        self.inject('unlink', path)
        real = self._real(path)
        self._forget_if_last_link(real)
        os.unlink(real)

    def symlink(self, target, source):
        # fusepy's names: `target` is the new link's path, `source` what it points to.
        real = self._real(target)
        os.symlink(source, real)
        self.link_targets[self._new_id(os.lstat(real).st_ino, 'l')] = source

    def mknod(self, path, mode, dev):
        raise FuseOSError(errno.EPERM)

    def rename(self, old, new):
        real_new = self._real(new)
        if os.path.lexists(real_new) and os.lstat(real_new).st_ino != os.lstat(self._real(old)).st_ino:
            self._forget_if_last_link(real_new)
        os.rename(self._real(old), real_new)

    def link(self, target, source):
        os.link(self._real(source), self._real(target))

    def open(self, path, flags):
        real = self._real(path)
        fid = self._id(real)
        fh = os.open(real, flags & ~os.O_APPEND)
        self.fh_id[fh] = fid
        self.fh_path[fh] = path
        return fh

    def create(self, path, mode, fi=None):
        real = self._real(path)
        existed = os.path.lexists(real)
        fh = os.open(real, os.O_RDWR | os.O_CREAT, mode)
        fid = self._id(real) if existed else self._new_id(os.fstat(fh).st_ino, 'f')
        self.fh_id[fh] = fid
        self.fh_path[fh] = path
        return fh

    def read(self, path, size, offset, fh):
        return os.pread(fh, size, offset)

    def write(self, path, data, offset, fh):
        self.inject('write', self.fh_path.get(fh, path or ''))
        n = os.pwrite(fh, data, offset)
        self.dirty.setdefault(self.fh_id[fh], []).append((offset, n))
        return n

    def truncate(self, path, length, fh=None):
        self.inject('write', self.fh_path.get(fh, path or '') if fh is not None else path)
        if fh is not None:
            os.ftruncate(fh, length)
            fid = self.fh_id[fh]
        else:
            os.truncate(self._real(path), length)
            fid = self._id(self._real(path))
        self.dirty.setdefault(fid, [])

    def flush(self, path, fh):
        return 0

    def release(self, path, fh):
        self.fh_id.pop(fh, None)
        self.fh_path.pop(fh, None)
        os.close(fh)
        return 0

    def fsync(self, path, datasync, fh):
        self.inject('write', self.fh_path.get(fh, path or ''))
        self.inject('fsync', self.fh_path.get(fh, path or ''))
        self._sync_file(self.fh_id[fh], fh)
        self.inject('fsync-persisted', self.fh_path.get(fh, path or ''))
        return 0

    def opendir(self, path):
        return 0

    def releasedir(self, path, fh):
        return 0

    def fsyncdir(self, path, datasync, fh):
        self._sync_dir(self._real(path))
        return 0


def main():
    backing, mount, shadow = sys.argv[1:4]
    fs = PowerCutFS(backing, shadow)

    def control():
        for line in sys.stdin:
            words = line.split()
            if words == ['cut']:
                fs.cut()
                print('cut-done', flush=True)
            elif len(words) == 4 and words[0] == 'fail':
                with fs.mutex:
                    fs.faults.append((words[1], words[2], getattr(errno, words[3])))
                print('ok', flush=True)
            elif len(words) == 3 and words[0] == 'stall' and words[1] in ('fsync', 'write'):
                with fs.mutex:
                    fs.healed.clear()
                    (fs.stalls if words[1] == 'fsync' else fs.write_stalls).append(words[2])
                print('ok', flush=True)
            elif words == ['heal']:
                with fs.mutex:
                    fs.faults = []
                    fs.stalls = []
                    fs.write_stalls = []
                    fs.healed.set()
                print('ok', flush=True)

    threading.Thread(target=control, daemon=True).start()
    FUSE(fs, mount, foreground=True, nothreads=False, big_writes=True, max_write=1048576)


if __name__ == '__main__':
    main()
