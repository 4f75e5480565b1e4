; Chaperone's additions to electron-builder's NSIS installer (electron-builder.yml nsis.include).
;
; The machine policy folder, C:\ProgramData\Chaperone (docs/admin/policy.md, "Windows file").
; By default any user may create folders in C:\ProgramData, and whoever creates one owns it and
; can change its permissions: a standard user who made this folder first could write a policy the
; app trusts (another broker, a lower consent floor). So a for-every-user install (elevated, /allusers)
; creates it with the documented ACL: SYSTEM and Administrators full control, Users read.
; A folder someone else made first is moved aside, never trusted, and a fresh one is made.
; The path is the literal one the app reads (main/machine-policy/), never taken from the environment.
; A per-user install is not elevated and leaves the folder to the administrator.
; Uninstalling leaves the folder: it holds the administrator's policy, not the app's files.

!define CHAPERONE_POLICY_DIR "C:\ProgramData\Chaperone"
; The same grant as docs/admin/policy.md, by SID so it works in every Windows language:
; S-1-5-18 SYSTEM, S-1-5-32-544 Administrators, S-1-5-32-545 Users.
!define CHAPERONE_POLICY_GRANT "*S-1-5-18:(OI)(CI)F *S-1-5-32-544:(OI)(CI)F *S-1-5-32-545:(OI)(CI)RX"

!macro chaperonePolicyFolder
  ${if} ${FileExists} "${CHAPERONE_POLICY_DIR}\*.*"
    ; Who owns what is already there, as a SID (names differ by language).
    nsExec::ExecToStack `"$SYSDIR\WindowsPowerShell\v1.0\powershell.exe" -NoProfile -NonInteractive -Command "[Console]::Out.Write((Get-Acl -LiteralPath '${CHAPERONE_POLICY_DIR}').GetOwner([Security.Principal.SecurityIdentifier]).Value)"`
    Pop $R0
    Pop $R1
    ${if} $R1 != "S-1-5-32-544"
    ${andIf} $R1 != "S-1-5-18"
      ; Made by someone else (or unreadable): set aside for the administrator to look at. A rename
      ; moves a junction itself, not what it points to.
      System::Call "kernel32::GetTickCount() i .R2"
      DetailPrint "Chaperone: ${CHAPERONE_POLICY_DIR} was created by $R1, not by an administrator; moved to ${CHAPERONE_POLICY_DIR}.untrusted-$R2"
      Rename "${CHAPERONE_POLICY_DIR}" "${CHAPERONE_POLICY_DIR}.untrusted-$R2"
      ${if} ${FileExists} "${CHAPERONE_POLICY_DIR}\*.*"
        DetailPrint "Chaperone: could not move ${CHAPERONE_POLICY_DIR} aside"
        SetErrorLevel 2
        MessageBox MB_OK|MB_ICONEXCLAMATION "Chaperone: the policy folder ${CHAPERONE_POLICY_DIR} was created by another user and could not be moved aside. Delete it and install again." /SD IDOK
        Goto chaperonePolicyDone
      ${endIf}
    ${endIf}
  ${endIf}
  CreateDirectory "${CHAPERONE_POLICY_DIR}"
  nsExec::ExecToLog `"$SYSDIR\icacls.exe" "${CHAPERONE_POLICY_DIR}" /inheritance:r /grant:r ${CHAPERONE_POLICY_GRANT}`
  Pop $R0
  ${if} $R0 != "0"
    ; Fail loudly: a deployment tool sees the exit code, a person sees the message.
    DetailPrint "Chaperone: icacls failed ($R0) on ${CHAPERONE_POLICY_DIR}"
    SetErrorLevel 2
    MessageBox MB_OK|MB_ICONEXCLAMATION "Chaperone: the policy folder ${CHAPERONE_POLICY_DIR} could not be locked (icacls $R0). Run as administrator: icacls ${CHAPERONE_POLICY_DIR} /inheritance:r /grant:r ${CHAPERONE_POLICY_GRANT}" /SD IDOK
  ${endIf}
  chaperonePolicyDone:
!macroend

!macro customInstall
  ${if} $installMode == "all"
    !insertmacro chaperonePolicyFolder
  ${else}
    DetailPrint "Chaperone: per-user install; the machine policy folder is left to the administrator (docs/admin/policy.md)"
  ${endIf}
!macroend
