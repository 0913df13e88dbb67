# Bulk-loads users into a provisioned, stopped Samba AD DC's domain
# partition, for tests and benchmarks (internal/testserver/samba.go).
#
# Adding users through Samba's own modules (ldapadd, ldbadd on sam.ldb)
# costs time that grows with the directory: every add rewrites index
# records whose size grows with the number of users (measured here: 2 ms
# an add at 500 users, 6 ms at 2,000, hours for 100,000). This loader
# writes the user records straight into the partition's ldb with Samba's
# modules bypassed and the shared-value indices switched off, then switches
# them back on, which rebuilds every index once (linear): 100,000 users in
# well under a minute.
#
# Each user of the LDIF gets what Samba's modules would have added, copied
# from a template user that Samba created itself (its object class chain,
# objectCategory, security descriptor, primaryGroupID, sAMAccountType, ...),
# plus its own objectSid (domain SID + a RID from 1,000,000 up, above
# anything the DC allocates in a test). The LDIF gives every attribute that
# differs per user, objectGUID included (so tests know each user's GUID).
#
# The indices are switched back on twice: in the raw ldb (which puts the
# attribute list back, but keys values without Samba's syntaxes), then by
# a forced re-index through Samba's modules (what `samba-tool dbcheck
# --reindex` does), which keys them as Samba does.
#
# Both re-indexes cost time that grows faster than the number of users
# (ldb inserts each user into the sorted list of every indexed value the
# users share: the raw one measured 2.6 s for 10,000 users and 30 s for
# 40,000; Samba's ran over 13 minutes for 100,000 without finishing).
# Leaving those attributes out of the index does not work: Samba takes
# which attributes are indexed from its schema, not from @INDEXLIST, and
# finds nothing where their index records are missing.
#
# Usage: python3 samba_load.py SMB_CONF SAM_LDB PARTITION_LDB TEMPLATE_SAM_ACCOUNT_NAME USERS_LDIF
import struct
import sys

import ldb

smb_conf, sam, partition, template_sam, ldif_path = sys.argv[1:6]
db = ldb.Ldb(url="tdb://" + partition, options=["modules:"])

res = db.search(expression="(sAMAccountName=%s)" % template_sam, scope=ldb.SCOPE_SUBTREE)
if len(res) != 1:
    sys.exit("samba_load: template user %s not found" % template_sam)
template = res[0]
copied = ["objectClass", "instanceType", "whenCreated", "whenChanged", "uSNCreated", "uSNChanged",
          "nTSecurityDescriptor", "replPropertyMetaData", "badPwdCount", "codePage", "countryCode",
          "badPasswordTime", "lastLogoff", "lastLogon", "logonCount", "pwdLastSet", "primaryGroupID",
          "accountExpires", "sAMAccountType", "objectCategory"]
domain_sid = bytes(template["objectSid"][0])[:-4]

indexlist = db.search(base="@INDEXLIST", scope=ldb.SCOPE_BASE)[0]
full_index = [bytes(v) for v in indexlist["@IDXATTR"]]


def set_indexing(attrs, one_level):
    m = ldb.Message(ldb.Dn(db, "@INDEXLIST"))
    m["@IDXATTR"] = ldb.MessageElement(attrs, ldb.FLAG_MOD_REPLACE, "@IDXATTR")
    m["@IDXONE"] = ldb.MessageElement([b"1"] if one_level else [], ldb.FLAG_MOD_REPLACE, "@IDXONE")
    db.transaction_start()
    db.modify(m)
    db.transaction_commit()


with open(ldif_path, "r", encoding="utf-8") as f:
    text = f.read()

set_indexing([b"objectGUID"], False)
db.transaction_start()
added = 0
for _, parsed in db.parse_ldif(text):
    m = ldb.Message(ldb.Dn(db, str(parsed.dn)))
    for name in copied:
        if name not in parsed:
            m[name] = ldb.MessageElement([bytes(v) for v in template[name]], ldb.FLAG_MOD_ADD, name)
    for name in parsed.keys():
        if name == "dn":
            continue
        m[name] = ldb.MessageElement([bytes(v) for v in parsed[name]], ldb.FLAG_MOD_ADD, name)
    m["objectSid"] = ldb.MessageElement([domain_sid + struct.pack("<I", 1000000 + added)], ldb.FLAG_MOD_ADD, "objectSid")
    m["distinguishedName"] = ldb.MessageElement([str(parsed.dn).encode()], ldb.FLAG_MOD_ADD, "distinguishedName")
    db.add(m)
    added += 1
db.transaction_commit()
set_indexing(full_index, True)
db = None

from samba.auth import system_session  # noqa: E402
from samba.param import LoadParm  # noqa: E402
from samba.samdb import SamDB  # noqa: E402

lp = LoadParm()
lp.load(smb_conf)
samdb = SamDB(url=sam, session_info=system_session(), lp=lp)
m = ldb.Message()
m.dn = ldb.Dn(samdb, "@ATTRIBUTES")
m["add"] = ldb.MessageElement("NONE", ldb.FLAG_MOD_ADD, "force_reindex")
m["delete"] = ldb.MessageElement("NONE", ldb.FLAG_MOD_DELETE, "force_reindex")
samdb.modify(m)
print("samba_load: %d users" % added)
